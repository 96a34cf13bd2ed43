"""Before the needle: open alerts, adverse events under review, contraindications, screening and
consent, seen wherever a patient's session is opened, and the start refused while an urgent
alert or a suspected pneumothorax is open."""

import datetime
import re
import uuid
from html import unescape

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare_services
from aftercare.models import Alert
from clinics.models import Role
from patients import services as patient_services
from sessions import services
from sessions.exceptions import StartRefused
from sessions.models import AdverseEventKind, Severity, Status
from tests.aftercare.factories import answer_when_due, first_check_in, signed_session
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory, born_years_ago, day_at
from tests.sessions.factories import ready_to_needle, started_session, this_minute

HOUR = datetime.timedelta(hours=1)


def text(response) -> str:
    """What a reader sees: the page without tags and with single spaces."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def book(world, patient, therapist=None):
    return services.book_session(
        clinic=world.kelowna,
        therapist=therapist or world.therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.front_desk,
    )


@pytest.fixture
def chest_pain(world, patient):
    """Pat answered yes to chest pain at the 24 h check-in of a session signed by Priya;
    the clock stays an hour after the answer, when Pat comes back for the next session."""
    session = signed_session(patient, therapist=world.therapist)
    check_in = first_check_in(session)
    answer_when_due(check_in, by=patient.user, chest_pain=True, short_of_breath=True)
    with time_machine.travel(check_in.due_at + 2 * HOUR):
        yield Alert.objects.get(session=session)


def test_the_next_session_shows_the_urgent_alert_and_does_not_start_until_acknowledged(
    world, patient, chest_pain, client_of
):
    session = book(world, patient)
    client = client_of(world.therapist)
    alert_url = reverse("aftercare:alert", args=[chest_pain.pk])

    gate = client.get(reverse("sessions:detail", args=[session.pk]))
    shown = text(gate)
    assert "Urgent alert from the 24 h check-in" in shown
    assert "This session cannot start yet." in shown
    assert "acknowledge it, with a note, before you start" in shown
    assert f'href="{alert_url}?next=' in gate.content.decode()
    assert "Start the session" not in shown
    with pytest.raises(StartRefused, match="An urgent alert from the 24 h check-in") as refused:
        services.start_session(session=session, by=world.therapist)
    assert refused.value.blockers[0].url == alert_url

    answer = client.post(
        reverse("aftercare:acknowledge", args=[chest_pain.pk]),
        {"note": "Called Pat: seen in A&E, no pneumothorax", "next": gate.request["PATH_INFO"]},
    )
    assert answer.status_code == 302
    assert answer.url == reverse("sessions:detail", args=[session.pk])
    assert "Start the session" in text(client.get(answer.url))
    assert services.start_session(session=session, by=world.therapist).status == Status.IN_PROGRESS


def test_another_therapists_acknowledgement_does_not_let_this_therapist_start(
    world, patient, chest_pain
):
    aftercare_services.acknowledge_alert(
        alert=chest_pain, by=world.manager, note="Left a voicemail"
    )
    colleague = staff(Role.THERAPIST, clinic=world.kelowna, email="kim@kelowna.test")
    session = book(world, patient, therapist=colleague)
    with pytest.raises(StartRefused, match="acknowledge it, with a note"):
        services.start_session(session=session, by=colleague)
    aftercare_services.acknowledge_alert(alert=chest_pain, by=colleague, note="Read; will ask")
    assert services.start_session(session=session, by=colleague).status == Status.IN_PROGRESS


def test_a_resolved_alert_no_longer_stops_the_start(world, patient, chest_pain):
    aftercare_services.resolve_alert(
        alert=chest_pain, by=world.manager, note="Seen in A&E: no pneumothorax"
    )
    session = book(world, patient)
    assert services.start_session(session=session, by=world.therapist).status == Status.IN_PROGRESS


def test_an_alert_shows_at_the_top_of_the_patient_page_and_on_the_day_list(
    world, patient, chest_pain, client_of
):
    book(world, patient)
    client = client_of(world.therapist)
    page = text(client.get(reverse("patients:detail", args=[patient.pk])))
    banner = page[page.index("Before the needle") : page.index("Details")]
    assert "Urgent alert from the 24 h check-in" in banner
    day = client.get(reverse("sessions:day"))
    row = re.search(r"<tr>.*?Pat Morgan.*?</tr>", day.content.decode(), re.S).group(0)
    assert "Open alert" in row
    assert reverse("aftercare:alert", args=[chest_pain.pk]) in row


def test_a_suspected_pneumothorax_awaiting_review_stops_the_next_start(world, patient, client_of):
    ready_to_needle(patient, by=world.therapist)
    first = started_session(patient=patient, therapist=world.therapist)
    services.add_adverse_event(
        session=first,
        by=world.therapist,
        kind=AdverseEventKind.PNEUMOTHORAX,
        severity=Severity.SEVERE,
        action_taken="Sent to the emergency department",
    )
    event = first.adverse_events.get()
    services.sign_session(session=first, by=world.therapist)
    with time_machine.travel(timezone.now() + HOUR):  # Pat comes back an hour later
        session = book(world, patient)
        with pytest.raises(StartRefused, match="pneumothorax recorded after the session") as no:
            services.start_session(session=session, by=world.therapist)
        assert no.value.blockers[0].url.startswith(reverse("sessions:detail", args=[first.pk]))
        admin = client_of(world.org_admin)
        admin_page = text(admin.get(reverse("patients:detail", args=[patient.pk])))
        assert "Suspected pneumothorax recorded after the session" in admin_page
        assert "Review it" in admin_page

        services.review_adverse_event(event=event, by=world.org_admin, note="Confirmed; reported")
        started = services.start_session(session=session, by=world.therapist)
        assert started.status == Status.IN_PROGRESS


@pytest.fixture
def morning(world):
    """08:00 tomorrow at Kelowna, the clock ticking: a morning's bookings fall on its day."""
    with time_machine.travel(day_at(1, 8, clinic=world.kelowna)):
        yield


def test_the_day_list_marks_each_booking_and_the_front_desk_sees_next_steps_only(
    world, client_of, morning
):
    ready = ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist)
    unscreened = PatientFactory(home_clinic=world.kelowna)
    phobic = ready_to_needle(
        PatientFactory(home_clinic=world.kelowna),
        by=world.therapist,
        contraindications=("needle_phobia",),
    )
    child = PatientFactory(
        home_clinic=world.kelowna, date_of_birth=born_years_ago(9, zone="America/Vancouver")
    )
    questionnaire = patient_services.current_questionnaire(world.organization)
    patient_services.submit_screening(
        patient=child,
        by=world.therapist,
        answers={question: False for question in questionnaire.questions.all()},
    )
    patient_services.sign_consent(
        patient=child,
        by=world.therapist,
        template=patient_services.current_consent_template(world.organization),
        signer_name="Maria Lopez",
        guardian_relationship="Mother",
    )
    for minutes, someone in enumerate((ready, unscreened, phobic, child)):
        services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=someone,
            starts_at=this_minute() + datetime.timedelta(minutes=30 * minutes),
            by=world.front_desk,
        )

    def marks(user) -> dict:
        """Each booked patient's marks on the day list, as read: {patient id: "Ready"}."""
        page = client_of(user).get(reverse("sessions:day")).content.decode()
        shown = {}
        for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]:
            patient_id = re.search(r"/patients/([0-9a-f-]+)/", row).group(1)
            cell = re.search(r'class="marks">(.*?)</td>', row, re.S).group(1)
            shown[uuid.UUID(patient_id)] = " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
        return shown

    therapist = marks(world.therapist)
    assert therapist[ready.pk] == "Ready"
    assert therapist[unscreened.pk] == "Screening needed Consent needed"
    assert therapist[phobic.pk] == "Relative contraindication"
    assert therapist[child.pk] == "Contraindication"
    desk = marks(world.front_desk)
    assert desk[ready.pk] == "Ready"
    assert desk[unscreened.pk] == "Screening needed Consent needed"
    assert desk[phobic.pk] == "Ready"
    assert desk[child.pk] == "See the therapist"


def test_the_api_answers_say_what_to_read_and_why_a_start_is_refused(
    world, patient, chest_pain, client_of
):
    session = book(world, patient)
    client = client_of(world.therapist)
    answer = client.get(reverse("session-detail", args=[session.pk])).json()
    assert answer["readiness"] == ["Open alert"]
    [line] = answer["before_the_needle"]
    assert line["kind"] == "alert"
    assert line["level"] == "danger"
    assert line["url"] == reverse("aftercare:alert", args=[chest_pain.pk])
    listed = client.get(reverse("session-list"), {"patient": str(patient.pk)}).json()
    assert [row["readiness"] for row in listed["results"]] == [[], ["Open alert"]]

    refused = client.post(reverse("session-start", args=[session.pk]), {}, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "start_refused"
    assert body["blockers"][0]["url"] == reverse("aftercare:alert", args=[chest_pain.pk])

    aftercare_services.acknowledge_alert(alert=chest_pain, by=world.therapist, note="Called")
    assert client.post(reverse("session-start", args=[session.pk])).status_code == 200
    chart = client.get(reverse("session-chart", args=[session.pk])).json()
    assert "acknowledged by" in chart["before_the_needle"][0]["text"]


def test_a_refusal_for_missing_forms_sends_them_in_one_click_and_comes_back(
    world, patient, client_of, django_capture_on_commit_callbacks
):
    session = book(world, patient)  # Pat has neither screening nor consent
    client = client_of(world.therapist)
    page = client.get(reverse("sessions:detail", args=[session.pk]))
    shown = text(page)
    assert "There is no signed consent." in shown
    assert "Send the patient the forms" in shown
    assert reverse("patients:forms_on_tablet", args=[patient.pk]) in page.content.decode()
    here = reverse("sessions:detail", args=[session.pk])
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(reverse("patients:send_forms", args=[patient.pk]), {"next": here})
    assert (sent.status_code, sent.url) == (302, here)
    [email] = mail.outbox
    assert email.to == [patient.email]


def vernon_session(world, patient):
    """Pat, a Kelowna patient, booked by the organisation admin with Dan at Vernon."""
    return services.book_session(
        clinic=world.vernon,
        therapist=world.vernon_therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.org_admin,
    )


def test_a_therapist_at_another_site_reads_the_contraindications_of_the_patient_they_needle(
    world, patient, client_of
):
    ready_to_needle(patient, by=world.therapist, contraindications=("needle_phobia",))
    session = vernon_session(world, patient)
    gate = text(
        client_of(world.vernon_therapist).get(reverse("sessions:detail", args=[session.pk]))
    )
    assert "Relative contraindication: Needle phobia. Record a reason to proceed." in gate
    assert "Your reason to proceed" in gate


def test_what_a_user_may_not_see_still_keeps_a_booking_from_reading_ready(
    world, patient, chest_pain, client_of
):
    session = vernon_session(world, patient)  # the alert is Kelowna's; Dan works at Vernon
    dan = client_of(world.vernon_therapist)
    gate = text(dan.get(reverse("sessions:detail", args=[session.pk])))
    assert "An urgent alert is open at Kelowna: needling waits until its staff" in gate
    assert "the staff of Kelowna must resolve it before you start" in gate
    assert dan.get(reverse("session-detail", args=[session.pk])).json()["readiness"] == [
        "Open alert"
    ]


def test_an_alert_a_user_may_not_see_and_that_is_not_urgent_says_nothing_to_them(
    world, patient, client_of
):
    session = signed_session(patient, therapist=world.therapist)
    check_in = first_check_in(session)
    answer_when_due(check_in, by=patient.user, infection_signs=True)
    with time_machine.travel(check_in.due_at + 2 * HOUR):
        assert Alert.objects.get(session=session).level == "alert"
        url = reverse("session-detail", args=[vernon_session(world, patient).pk])
        dan = client_of(world.vernon_therapist).get(url).json()["readiness"]
        admin = client_of(world.org_admin).get(url).json()["readiness"]
    # The organisation admin sees Kelowna's alert; Dan at Vernon may not, and a
    # non-urgent one stops no start: not a word of it to him.
    assert "Open alert" in admin
    assert "Open alert" not in dan


def test_the_front_desk_sees_a_review_stops_needling_but_not_what_happened(
    world, patient, client_of
):
    ready_to_needle(patient, by=world.therapist)
    first = started_session(patient=patient, therapist=world.therapist)
    services.add_adverse_event(
        session=first,
        by=world.therapist,
        kind=AdverseEventKind.PNEUMOTHORAX,
        severity=Severity.SEVERE,
        action_taken="Sent to the emergency department",
    )
    services.sign_session(session=first, by=world.therapist)
    with time_machine.travel(timezone.now() + HOUR):
        session = book(world, patient)
        desk = client_of(world.front_desk)
        answer = desk.get(reverse("session-detail", args=[session.pk])).json()
        page = text(desk.get(reverse("patients:detail", args=[patient.pk])))
    assert answer["readiness"] == ["Safety review open"]
    assert "Needling waits for an organisation admin's safety review" in page
    assert "pneumothorax" not in page.lower()
    assert "pneumothorax" not in str(answer).lower()
