"""Inviting a patient to the portal: one e-mail, a link that works once, for that address only."""

import datetime
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from accounts.models import User
from patients import services
from patients.exceptions import Conflict, InvitationInvalid, NotPermitted
from patients.models import PatientInvitation
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory


@pytest.fixture
def new_patient(world):
    return PatientFactory(
        home_clinic=world.kelowna, first_name="Robin", email="robin@example.test", user=None
    )


def invite(patient, by, django_capture_on_commit_callbacks, **kwargs) -> str:
    """Invite and return the token from the e-mailed link."""
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_patient(patient=patient, by=by, **kwargs)
    return re.search(r"/portal/invitation/([\w-]+)/", mail.outbox[-1].body).group(1)


def test_the_invitation_is_emailed_with_a_link_whose_token_is_not_stored(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    assert message.to == ["robin@example.test"]
    assert "Kelowna" in message.subject
    assert "Hello Robin" in message.body
    invitation = PatientInvitation.objects.get()
    assert token not in invitation.token_sha256
    assert invitation.expires_at - invitation.created_at == datetime.timedelta(days=14)


def test_a_second_click_sends_no_second_email(
    world, new_patient, django_capture_on_commit_callbacks
):
    invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_patient(patient=new_patient, by=world.front_desk)
    assert len(mail.outbox) == 1
    assert PatientInvitation.objects.count() == 1


def test_a_patient_without_an_email_cannot_be_invited_until_one_is_given(world):
    patient = PatientFactory(home_clinic=world.kelowna, email="")
    with pytest.raises(ValidationError) as refused:
        services.invite_patient(patient=patient, by=world.front_desk)
    assert "e-mail" in refused.value.message_dict["email"][0]
    services.update_patient(patient=patient, by=world.front_desk, email="late@example.test")
    services.invite_patient(patient=patient, by=world.front_desk)
    assert PatientInvitation.objects.get().email == "late@example.test"


def test_only_staff_who_see_the_patient_invite(world, new_patient, patient):
    for outsider in (world.vernon_therapist, world.other_admin, patient.user):
        with pytest.raises(NotPermitted):
            services.invite_patient(patient=new_patient, by=outsider)


def test_a_patient_with_a_login_is_not_invited_again(world, patient):
    with pytest.raises(Conflict):
        services.invite_patient(patient=patient, by=world.front_desk)


def test_the_link_creates_a_verified_login_connected_to_the_patient(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    user = services.create_login_from_invitation(token=token, password="a long portal passphrase")
    new_patient.refresh_from_db()
    assert new_patient.user == user
    assert user.email == "robin@example.test"
    assert user.check_password("a long portal passphrase")
    assert EmailAddress.objects.get(user=user).verified
    assert PatientInvitation.objects.get().accepted_by == user

    with pytest.raises(InvitationInvalid, match="already been used"):
        services.create_login_from_invitation(token=token, password="another passphrase 2")
    assert services.accept_invitation(token=token, user=user) == new_patient


def test_a_weak_password_is_refused_naming_the_field(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError) as refused:
        services.create_login_from_invitation(token=token, password="123")
    assert "password" in refused.value.message_dict
    assert not User.objects.filter(email="robin@example.test").exists()


def test_an_existing_account_with_that_email_accepts_after_logging_in(
    world, new_patient, django_capture_on_commit_callbacks
):
    robin = UserFactory(email="robin@example.test")
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    with pytest.raises(InvitationInvalid, match="log in"):
        services.create_login_from_invitation(token=token, password="a long portal passphrase")
    assert services.accept_invitation(token=token, user=robin) == new_patient
    new_patient.refresh_from_db()
    assert new_patient.user == robin


def test_someone_logged_in_with_another_email_cannot_take_the_invitation(
    world, new_patient, patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    with pytest.raises(InvitationInvalid, match=r"sent to robin@example\.test"):
        services.accept_invitation(token=token, user=patient.user)
    new_patient.refresh_from_db()
    assert new_patient.user is None


def test_a_used_invitation_cannot_connect_a_second_login(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    services.create_login_from_invitation(token=token, password="a long portal passphrase")
    impostor = UserFactory(email="other@example.test")
    with pytest.raises(InvitationInvalid, match="already been used"):
        services.accept_invitation(token=token, user=impostor)


def test_an_expired_or_unknown_link_is_refused_with_what_to_do(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    PatientInvitation.objects.update(expires_at=timezone.now())
    with pytest.raises(InvitationInvalid, match=r"expired\. Ask the clinic"):
        services.invitation_for(token)
    with pytest.raises(InvitationInvalid, match="not valid"):
        services.invitation_for(token[:-2])


def test_only_the_newest_invitation_works(world, new_patient, django_capture_on_commit_callbacks):
    first = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    PatientInvitation.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=10))
    second = invite(new_patient, world.therapist, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    with pytest.raises(InvitationInvalid, match="newer invitation"):
        services.create_login_from_invitation(token=first, password="a long portal passphrase")
    services.create_login_from_invitation(token=second, password="a long portal passphrase")


def test_a_changed_email_address_retires_the_link_sent_to_the_old_one(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    services.update_patient(patient=new_patient, by=world.front_desk, email="robin@new.test")
    with pytest.raises(InvitationInvalid, match="changed the e-mail address"):
        services.create_login_from_invitation(token=token, password="a long portal passphrase")
    assert not User.objects.filter(email="robin@example.test").exists()


def test_a_used_link_tells_a_stranger_nothing_about_the_patient(
    world, new_patient, django_capture_on_commit_callbacks
):
    token = invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    services.create_login_from_invitation(token=token, password="a long portal passphrase")
    with pytest.raises(InvitationInvalid) as refused:
        services.invitation_for(token, user=UserFactory(email="curious@example.test"))
    assert new_patient.first_name not in refused.value.message
    assert "already been used" in refused.value.message


def test_an_invitation_that_could_not_be_emailed_is_sent_again_on_the_next_click(
    world, new_patient, django_capture_on_commit_callbacks, settings
):
    working = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "tests.patients.test_invitations.RefusingBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        unsent = services.invite_patient(patient=new_patient, by=world.front_desk)
    unsent.refresh_from_db()
    assert unsent.sent_at is None
    assert unsent.send_failed_at is not None
    settings.MAILERS = working
    invite(new_patient, world.front_desk, django_capture_on_commit_callbacks)
    assert PatientInvitation.objects.filter(sent_at__isnull=False).count() == 1
    assert len(mail.outbox) == 1


def test_a_second_click_while_the_first_email_is_being_sent_sends_nothing_more(
    world, new_patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as pending:
        first = services.invite_patient(patient=new_patient, by=world.front_desk)
        again = services.invite_patient(patient=new_patient, by=world.front_desk)
    assert again.pk == first.pk
    for send in pending:
        send()
    assert len(mail.outbox) == 1


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")
