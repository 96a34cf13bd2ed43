"""The patient portal and the invitation link, through real HTTP requests."""

import datetime
import re
import uuid
from html import unescape
from urllib.parse import urlencode, urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from patients import services
from patients.forms import IntakeForm
from patients.models import ConsentSignature, ConsentWithdrawal, Intake, PatientInvitation
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory

PASSWORD = "heather moss lantern"


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def robin(world):
    """A Kelowna patient with an e-mail address and no portal login yet."""
    return PatientFactory(
        home_clinic=world.kelowna,
        first_name="Robin",
        last_name="Hale",
        email="robin@example.test",
        user=None,
    )


def invitation_link(patient, by, client_of, django_capture_on_commit_callbacks) -> str:
    """The front desk presses "Send portal invitation"; the path of the e-mailed link."""
    with django_capture_on_commit_callbacks(execute=True):
        client_of(by).post(reverse("patients:invite", args=[patient.pk]))
    link = re.search(r"https?://\S+/portal/invitation/\S+/", mail.outbox[-1].body).group(0)
    return urlsplit(link).path


def screening_answers(page) -> dict:
    """No to every question of the form on `page`, with its hidden fields."""
    form = page.context["form"]
    data = {name: form[name].value() for name in ("questionnaire", "submission_key")}
    for answer, _ in form.rows():
        data[answer.html_name] = "no"
    return data


def test_an_invited_patient_makes_a_login_and_fills_in_everything(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    path = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    browser = Client()
    welcome = browser.get(path)
    assert "Choose a password" in text(welcome)
    assert "robin@example.test" in text(welcome)
    landed = browser.post(
        path,
        {"full_name": "Robin Hale", "password": PASSWORD, "password_again": PASSWORD},
        follow=True,
    )
    assert landed.redirect_chain[-1][0] == reverse("portal:home")
    user = User.objects.get(email="robin@example.test")
    assert EmailAddress.objects.get(user=user).verified
    robin.refresh_from_db()
    assert robin.user == user
    todo = text(landed)
    for task in ("Fill in your intake", "Answer the screening questions", "Sign your consent"):
        assert task in todo

    intake = browser.get(reverse("portal:intake"))
    assert isinstance(intake.context["form"], IntakeForm)
    saved = browser.post(
        reverse("portal:intake"),
        {
            "presenting_complaint": "Tight calves from running",
            "pain_areas": ["lower_leg"],
            "activity_level": "active",
            "version": intake.context["form"]["version"].value(),
            "surgeries-TOTAL_FORMS": "2",
            "surgeries-INITIAL_FORMS": "0",
        },
    )
    assert saved.headers["Location"] == reverse("portal:home")
    assert Intake.objects.get(patient=robin).channel == "portal"

    screening = browser.get(reverse("portal:screening"))
    answered = browser.post(reverse("portal:screening"), screening_answers(screening))
    assert answered.headers["Location"] == reverse("portal:home")

    consent = browser.get(reverse("portal:consent_sign"))
    assert services.current_consent_template(world.organization).body in consent.content.decode()
    signed = browser.post(
        reverse("portal:consent_sign"),
        {
            "template": consent.context["form"]["template"].value(),
            "submission_key": consent.context["form"]["submission_key"].value(),
            "signer_name": "Robin Hale",
        },
        follow=True,
    )
    signature = ConsentSignature.objects.get(patient=robin)
    assert signed.redirect_chain[-1][0] == reverse("portal:consent_detail", args=[signature.pk])
    assert signature.channel == "portal"
    assert signature.recorded_by == user
    assert signature.text_sha256 in text(signed)

    home = browser.get(reverse("portal:home"))
    assert "You are all set" in text(home)
    assert reverse("portal:consent_detail", args=[signature.pk]) in home.content.decode()


def test_home_sends_a_patient_to_their_portal(client_of, patient):
    response = client_of(patient.user).get(reverse("home"))
    assert response.headers["Location"] == reverse("portal:home")


def test_a_link_that_is_wrong_or_expired_says_so(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    wrong = Client().get(reverse("portal:invitation", args=["not-a-real-token"]))
    assert wrong.status_code == 404
    assert "This invitation link is not valid" in text(wrong)
    path = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    PatientInvitation.objects.update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    expired = Client().get(path)
    assert "This invitation has expired. Ask the clinic to send you a new one." in text(expired)
    assert not User.objects.filter(email=robin.email).exists()


def test_the_password_must_be_strong_and_typed_twice(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    path = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    browser = Client()
    weak = browser.post(path, {"full_name": "Robin", "password": "1234", "password_again": "1234"})
    assert weak.context["form"].errors["password"]
    assert 'id="id_password_error"' in weak.content.decode()
    differ = browser.post(
        path, {"full_name": "Robin", "password": PASSWORD, "password_again": PASSWORD + "!"}
    )
    assert "The two passwords differ" in text(differ)
    assert not User.objects.filter(email=robin.email).exists()


def test_someone_with_a_login_is_asked_to_log_in_then_accepts(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    existing = UserFactory(email="robin@example.test")
    path = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    asked = Client().get(path)
    login = f"{reverse('account_login')}?{urlencode({'next': path})}"
    assert f'href="{login.replace("&", "&amp;")}"' in asked.content.decode()
    browser = client_of(existing)
    assert "Accept the invitation" in text(browser.get(path))
    accepted = browser.post(path)
    assert accepted.headers["Location"] == reverse("portal:home")
    robin.refresh_from_db()
    assert robin.user == existing


def test_a_login_with_another_email_is_told_why_it_cannot_accept(
    world, client_of, robin, django_capture_on_commit_callbacks
):
    path = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    someone = UserFactory(email="someone@example.test")
    refused = client_of(someone).post(path)
    assert (
        "This invitation was sent to robin@example.test, but you are logged in as "
        "someone@example.test" in text(refused)
    )
    robin.refresh_from_db()
    assert robin.user is None


def test_a_patient_sees_only_their_own_consents(world, client_of, patient):
    template = services.current_consent_template(world.organization)
    neighbour = PatientFactory(home_clinic=world.kelowna)
    theirs = services.sign_consent(
        patient=neighbour, by=world.front_desk, template=template, signer_name="N. Bour"
    )
    mine = services.sign_consent(
        patient=patient, by=patient.user, template=template, signer_name=patient.full_name
    )
    client = client_of(patient.user)
    assert client.get(reverse("portal:consent_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("portal:consent_detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("portal:consent_withdraw", args=[theirs.pk])).status_code == 404
    assert not ConsentWithdrawal.objects.exists()


def test_staff_without_a_patient_record_find_no_portal(world, client_of):
    for person in world.staff_by_role().values():
        assert client_of(person).get(reverse("portal:home")).status_code == 404


def test_a_patient_withdraws_consent_and_is_asked_to_sign_again(world, client_of, patient):
    signature = services.sign_consent(
        patient=patient,
        by=patient.user,
        template=services.current_consent_template(world.organization),
        signer_name=patient.full_name,
    )
    client = client_of(patient.user)
    url = reverse("portal:consent_withdraw", args=[signature.pk])
    assert "You are withdrawing" in text(client.get(url))
    client.post(url, {"reason": ""})
    withdrawal = ConsentWithdrawal.objects.get(signature=signature)
    assert (withdrawal.channel, withdrawal.recorded_by) == ("portal", patient.user)
    home = text(client.get(reverse("portal:home")))
    assert "You withdrew your consent" in home
    assert "Withdrawn" in home


def test_a_patient_reports_a_change_in_health_and_is_asked_to_screen_again(
    world, client_of, patient
):
    client = client_of(patient.user)
    screening = client.get(reverse("portal:screening"))
    client.post(reverse("portal:screening"), screening_answers(screening))
    assert "My health has changed" in text(client.get(reverse("portal:home")))
    response = client.post(reverse("portal:report_change"), {"note": "I am pregnant"}, follow=True)
    shown = text(response)
    assert "The change is recorded" in shown
    assert "You told us your health changed: answer the questions again." in shown


def test_a_patient_of_two_organisations_switches_between_records(world, client_of, patient):
    PatientFactory(home_clinic=world.halifax, user=patient.user, email=patient.user.email)
    client = client_of(patient.user)
    first = client.get(reverse("portal:home"))
    assert "Your record at Kelowna" in text(first)
    other = [r for r in first.context["records"] if r.organization == world.other_organization]
    client.post(reverse("portal:home"), {"record": str(other[0].pk)})
    assert "Your record at Halifax" in text(client.get(reverse("portal:home")))
    client.post(reverse("portal:home"), {"record": str(uuid.uuid4())})
    assert "Your record at Halifax" in text(client.get(reverse("portal:home")))


def test_a_patient_reads_their_own_screening_answers_and_no_one_elses(world, client_of, patient):
    questionnaire = services.current_questionnaire(world.organization)
    mine = services.submit_screening(
        patient=patient,
        by=patient.user,
        answers={
            question: question.key == "fainting" for question in questionnaire.questions.all()
        },
    )
    neighbour = PatientFactory(home_clinic=world.kelowna)
    theirs = services.submit_screening(
        patient=neighbour,
        by=world.therapist,
        answers={question: False for question in questionnaire.questions.all()},
    )
    client = client_of(patient.user)
    home = client.get(reverse("portal:home"))
    assert reverse("portal:screening_detail", args=[mine.pk]) in home.content.decode()
    page = client.get(reverse("portal:screening_detail", args=[mine.pk]))
    assert page.status_code == 200
    assert "Relative: History of fainting with needles" in text(page)
    assert client.get(reverse("portal:screening_detail", args=[theirs.pk])).status_code == 404


def test_a_patient_opening_their_used_link_again_lands_in_their_portal(
    world, robin, client_of, django_capture_on_commit_callbacks
):
    link = invitation_link(robin, world.front_desk, client_of, django_capture_on_commit_callbacks)
    user = services.create_login_from_invitation(
        token=link.rstrip("/").rsplit("/", 1)[-1], password="a long portal passphrase"
    )
    response = client_of(user).get(link)
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("portal:home")
