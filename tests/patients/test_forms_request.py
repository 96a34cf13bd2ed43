"""One click sends the patient their forms: the invitation, or a reminder with a link to each."""

import datetime
import re
from html import unescape

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from patients import services
from patients.contraindications import Contraindication
from patients.exceptions import Conflict, NotPermitted
from patients.models import FormsRequest, FormsSentAs, PatientForm, PatientInvitation
from tests.patients.factories import PatientFactory, answers_for, with_portal_login


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


REFUSING_BACKEND = f"{__name__}.RefusingBackend"


@pytest.fixture
def robin(world):
    """A new Kelowna patient: no portal login, no screening, no consent."""
    return PatientFactory(
        home_clinic=world.kelowna, first_name="Robin", email="robin@example.test", user=None
    )


def screen(patient, by, *yes):
    return services.submit_screening(
        patient=patient,
        by=by,
        answers=answers_for(services.current_questionnaire(patient.organization), *yes),
    )


def sign(patient, by):
    return services.sign_consent(
        patient=patient,
        by=by,
        template=services.current_consent_template(patient.organization),
        signer_name=patient.full_name,
    )


def send(patient, by, capture):
    """Send the forms and run what waits for the commit (the e-mail)."""
    with capture(execute=True):
        return services.send_forms(patient=patient, by=by)


def text(response) -> str:
    """What a reader sees: the page without tags and with single spaces."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def links_in(body: str) -> list[str]:
    return re.findall(r"https?://\S+", body)


# --- The service ---------------------------------------------------------------------


def test_a_patient_without_a_login_gets_the_portal_invitation(
    world, robin, django_capture_on_commit_callbacks
):
    sent = send(robin, world.front_desk, django_capture_on_commit_callbacks)

    assert sent.sent_as == FormsSentAs.INVITATION
    assert sent.forms == [PatientForm.SCREENING, PatientForm.CONSENT]
    assert (sent.email, sent.sent_by, sent.organization) == (
        "robin@example.test",
        world.front_desk,
        world.organization,
    )
    assert sent.invitation == PatientInvitation.objects.get(patient=robin)
    (message,) = mail.outbox
    assert message.to == ["robin@example.test"]
    assert "invites you to your patient portal" in message.subject
    assert "/portal/invitation/" in message.body


def test_a_patient_with_a_login_gets_a_reminder_with_a_link_to_each_form(
    world, patient, django_capture_on_commit_callbacks
):
    sent = send(patient, world.front_desk, django_capture_on_commit_callbacks)

    assert sent.sent_as == FormsSentAs.REMINDER
    assert sent.invitation is None
    assert sent.forms == [PatientForm.SCREENING, PatientForm.CONSENT]
    assert not PatientInvitation.objects.exists()
    (message,) = mail.outbox
    assert message.to == [patient.email]
    assert message.subject == "[Fascia] Kelowna: your forms before your visit"
    assert "Hello Pat" in message.body
    assert "Screening questions: http://" in message.body
    assert "Consent to dry needling: http://" in message.body
    paths = {link.split("://", 1)[1].split("/", 1)[1] for link in links_in(message.body)}
    assert paths == {"portal/screening/", "portal/consent/", "portal/"}


def test_the_reminder_asks_only_for_what_is_still_to_do(
    world, patient, django_capture_on_commit_callbacks
):
    screen(patient, world.therapist)
    sent = send(patient, world.front_desk, django_capture_on_commit_callbacks)
    assert sent.forms == [PatientForm.CONSENT]
    body = mail.outbox[0].body
    assert "this form" in body and "Consent to dry needling" in body
    assert "Screening" not in body and "/portal/screening/" not in body


def test_the_reminder_never_holds_an_answer_a_flag_or_why_a_form_is_due(
    world, patient, django_capture_on_commit_callbacks
):
    # An old screening that raised flags, then a change in health the patient reported.
    with time_machine.travel(timezone.now() - datetime.timedelta(days=30)):
        screen(patient, world.therapist, "pregnancy", "blood_thinners", "needle_phobia")
        sign(patient, world.therapist)
    services.report_health_change(patient=patient, by=world.front_desk, note="Started warfarin")

    sent = send(patient, world.front_desk, django_capture_on_commit_callbacks)

    assert sent.forms == [PatientForm.SCREENING]
    body = mail.outbox[0].body.lower()
    said = [label for label in Contraindication.labels if label.lower() in body]
    assert not said
    for clinical in ("warfarin", "pregnan", "blood", "needle phobia", "changed", "expired", "yes"):
        assert clinical not in body, clinical


def test_an_expired_screening_and_an_outdated_consent_that_no_longer_counts_are_asked_for(
    world, patient, django_capture_on_commit_callbacks
):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=100)):
        screen(patient, world.therapist)
        sign(patient, world.therapist)
    services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="Version two."
    )
    sent = send(patient, world.therapist, django_capture_on_commit_callbacks)
    assert sent.forms == [PatientForm.SCREENING, PatientForm.CONSENT]


def test_an_outdated_consent_the_organisation_lets_count_is_not_asked_for(world, patient):
    screen(patient, world.therapist)
    sign(patient, world.therapist)
    services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="Version two."
    )
    services.save_policy(
        organization=world.organization, by=world.org_admin, outdated_consent_counts=True
    )
    with pytest.raises(Conflict) as refused:
        services.send_forms(patient=patient, by=world.front_desk)
    assert refused.value.message == "Screening and consent are in order: nothing to send."


def test_nothing_is_sent_when_screening_and_consent_are_in_order(
    world, patient, django_capture_on_commit_callbacks
):
    screen(patient, world.therapist)
    sign(patient, world.therapist)
    with pytest.raises(Conflict) as refused, django_capture_on_commit_callbacks(execute=True):
        services.send_forms(patient=patient, by=world.front_desk)
    assert refused.value.message == "Screening and consent are in order: nothing to send."
    assert not FormsRequest.objects.exists()
    assert mail.outbox == []


def test_without_an_email_address_the_refusal_names_the_field(world):
    nobody = PatientFactory(home_clinic=world.kelowna, email="", user=None)
    with pytest.raises(ValidationError) as refused:
        services.send_forms(patient=nobody, by=world.front_desk)
    assert refused.value.message_dict == {
        "email": ["Record the patient's e-mail address first: the forms are sent there."]
    }
    assert not FormsRequest.objects.exists()
    assert not PatientInvitation.objects.exists()


def test_a_double_click_sends_once_and_a_later_click_sends_again(
    world, patient, robin, django_capture_on_commit_callbacks
):
    start = timezone.now()
    for someone in (patient, robin):
        mail.outbox.clear()
        with time_machine.travel(start, tick=False):
            first = send(someone, world.front_desk, django_capture_on_commit_callbacks)
        with time_machine.travel(start + datetime.timedelta(minutes=9), tick=False):
            again = send(someone, world.therapist, django_capture_on_commit_callbacks)
        assert again.pk == first.pk
        assert len(mail.outbox) == 1
        with time_machine.travel(start + datetime.timedelta(minutes=11), tick=False):
            later = send(someone, world.front_desk, django_capture_on_commit_callbacks)
        assert later.pk != first.pk
        assert len(mail.outbox) == 2
        assert FormsRequest.objects.filter(patient=someone).count() == 2


def test_a_click_after_the_forms_changed_sends_what_is_left(
    world, patient, django_capture_on_commit_callbacks
):
    send(patient, world.front_desk, django_capture_on_commit_callbacks)
    screen(patient, world.therapist)  # answered at the clinic a minute later
    sent = send(patient, world.front_desk, django_capture_on_commit_callbacks)
    assert sent.forms == [PatientForm.CONSENT]
    assert len(mail.outbox) == 2


def test_a_reminder_that_could_not_be_emailed_is_sent_again_on_the_next_click(
    world, patient, django_capture_on_commit_callbacks
):
    with override_settings(MAILERS={"default": {"BACKEND": REFUSING_BACKEND}}):
        failed = send(patient, world.front_desk, django_capture_on_commit_callbacks)
    assert failed.send_failed_at is not None
    assert FormsRequest.objects.get(pk=failed.pk).send_failed_at is not None
    retried = send(patient, world.front_desk, django_capture_on_commit_callbacks)
    assert retried.pk != failed.pk
    assert len(mail.outbox) == 1


def test_any_staff_role_at_the_home_clinic_may_send_and_no_one_else(world, patient):
    for person in world.staff_by_role().values():
        services.send_forms(patient=patient, by=person)
    kit = with_portal_login(PatientFactory(home_clinic=world.kelowna))
    for outsider in (world.vernon_therapist, world.other_admin, kit.user, patient.user):
        with pytest.raises(NotPermitted):
            services.send_forms(patient=patient, by=outsider)


# --- The page action -------------------------------------------------------------------


def test_the_front_desk_sends_the_forms_and_comes_back_where_they_clicked(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    back = reverse("patients:list") + "?q=Robin"
    client = client_of(world.front_desk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("patients:send_forms", args=[robin.pk]), {"next": back})
    assert response.status_code == 302
    assert response.url == back
    assert mail.outbox[0].to == ["robin@example.test"]
    page = client.get(response.url)
    assert (
        "A portal invitation is on its way to robin@example.test: once they have a login, the "
        "patient fills in the screening questions and the consent there." in text(page)
    )


def test_a_next_of_another_site_goes_to_the_patient_page_instead(world, client_of, patient):
    client = client_of(world.front_desk)
    for elsewhere in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            reverse("patients:send_forms", args=[patient.pk]), {"next": elsewhere}, follow=True
        )
        assert response.redirect_chain[0][0] == reverse("patients:detail", args=[patient.pk])
    assert "A reminder to fill in the screening questions and the consent is on its way" in text(
        response
    )


def test_the_page_action_says_why_nothing_was_sent(world, client_of):
    nobody = PatientFactory(home_clinic=world.kelowna, email="", user=None)
    response = client_of(world.front_desk).post(
        reverse("patients:send_forms", args=[nobody.pk]), follow=True
    )
    assert "Record the patient's e-mail address first: the forms are sent there." in text(response)
    assert not FormsRequest.objects.exists()


def test_another_organisations_patient_is_not_found(
    world, client_of, django_capture_on_commit_callbacks
):
    halifax = PatientFactory(home_clinic=world.halifax, user=None)
    with django_capture_on_commit_callbacks(execute=True):
        for person in (*world.staff_by_role().values(), world.vernon_therapist):
            client = client_of(person)
            assert client.post(reverse("patients:send_forms", args=[halifax.pk])).status_code == 404
            assert (
                client.get(reverse("patients:forms_on_tablet", args=[halifax.pk])).status_code
                == 404
            )
            api = client.post(
                reverse("patient-send-forms", kwargs={"pk": halifax.pk}),
                content_type="application/json",
            )
            assert api.status_code == 404
    assert not FormsRequest.objects.exists()
    assert mail.outbox == []


# --- On the clinic's tablet ---------------------------------------------------------------


def test_on_the_tablet_a_therapist_opens_each_form_still_to_fill_in(world, client_of, patient):
    page = client_of(world.therapist).get(reverse("patients:forms_on_tablet", args=[patient.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("patients:screening_new", args=[patient.pk]) in html
    assert reverse("patients:consent_sign", args=[patient.pk]) in html
    assert "Open the screening" in text(page) and "Open the consent" in text(page)


def test_on_the_tablet_the_front_desk_takes_consent_and_leaves_the_screening_to_a_therapist(
    world, client_of, patient
):
    page = client_of(world.front_desk).get(reverse("patients:forms_on_tablet", args=[patient.pk]))
    html = page.content.decode()
    assert reverse("patients:screening_new", args=[patient.pk]) not in html
    assert reverse("patients:consent_sign", args=[patient.pk]) in html
    assert "A therapist opens the screening with the patient" in text(page)
    assert reverse("patients:send_forms", args=[patient.pk]) in html


def test_on_the_tablet_nothing_to_fill_in_says_so(world, client_of, patient):
    screen(patient, world.therapist, "needle_phobia")
    sign(patient, world.therapist)
    page = client_of(world.front_desk).get(reverse("patients:forms_on_tablet", args=[patient.pk]))
    assert "Screening and consent are in order: nothing to fill in." in text(page)
    assert "Needle phobia" not in text(page)
    assert "Open the" not in text(page)


# --- The API -------------------------------------------------------------------------------


def test_the_api_answers_202_with_what_was_sent(
    world, client_of, patient, django_capture_on_commit_callbacks
):
    screen(patient, world.therapist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(world.front_desk).post(
            reverse("patient-send-forms", kwargs={"pk": patient.pk})
        )
    assert response.status_code == 202
    body = response.json()
    sent = FormsRequest.objects.get()
    assert body == {
        "id": str(sent.pk),
        "patient": str(patient.pk),
        "forms": ["consent"],
        "sent_as": "reminder",
        "email": patient.email,
        "sent_at": body["sent_at"],
        "sent_by": str(world.front_desk.pk),
        "invitation_expires_at": None,
        "send_failed": False,
    }
    assert len(mail.outbox) == 1


def test_the_api_refuses_with_the_rule_broken(world, client_of, patient):
    client = client_of(world.front_desk)
    nobody = PatientFactory(home_clinic=world.kelowna, email="", user=None)
    response = client.post(reverse("patient-send-forms", kwargs={"pk": nobody.pk}))
    assert response.status_code == 400
    assert "email" in response.json()["fields"]
    screen(patient, world.therapist)
    sign(patient, world.therapist)
    response = client.post(reverse("patient-send-forms", kwargs={"pk": patient.pk}))
    assert response.status_code == 409
    assert response.json()["detail"] == "Screening and consent are in order: nothing to send."
