"""The patient downloads their own record from the portal: as JSON, and as a printable page."""

import datetime
import hashlib
import json
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aftercare.models import CheckIn
from patients.models import RecordPart, RecordRead
from patients.own_record import own_record
from tests.aftercare.factories import draft_plan, signed_session
from tests.patients.factories import PatientFactory, day_at, full_record
from tests.sessions.factories import ready_to_needle, started_session

PARTS = ["details", "intake", "screening", "consents", "sessions", "aftercare", "check_ins"]
TITLES = [
    "Your details",
    "Your intake",
    "Your screening answers",
    "Your consents",
    "Your sessions",
    "Your aftercare plans",
    "Your check-ins",
]
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def download(client) -> dict:
    response = client.get(reverse("portal:record_json"))
    assert response.status_code == 200
    return json.loads(response.content)


def parts_of(record: dict) -> dict[str, list[dict]]:
    return {part["key"]: part["items"] for part in record["parts"]}


def staff_only(record) -> list[str]:
    """What the clinic wrote about Ada that stays with the clinic."""
    charted = record.charted
    return [
        charted.chart.complaint,
        charted.chart.assessment,
        charted.addendum.text,
        charted.needle_site.lot_number,
        charted.adverse_event.action_taken,
        charted.review.note,
        record.override.reason,
        record.aftercare.note.text,
    ]


def utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_the_download_holds_every_part_with_what_the_patient_would_check(world, client_of):
    ada = world.kelowna_record()
    record = download(client_of(ada.patient.user))

    assert [part["key"] for part in record["parts"]] == PARTS
    assert [part["title"] for part in record["parts"]] == TITLES
    assert record["patient"] == {
        "name": "Ada Quinn",
        "date_of_birth": ada.patient.date_of_birth.isoformat(),
        "organization": "Kelowna Physio",
        "home_clinic": "Kelowna",
    }
    assert UTC_TIME.match(record["generated_at"])
    parts = parts_of(record)

    [details] = parts["details"]
    assert (details["first_name"], details["last_name"]) == ("Ada", "Quinn")
    assert details["email"] == "ada@example.test"
    assert details["phone"] == ada.patient.phone
    assert (details["home_clinic"], details["organization"]) == ("Kelowna", "Kelowna Physio")

    [intake] = parts["intake"]
    assert intake["presenting_complaint"] == "Stiff neck after long days at the desk"
    assert intake["pain_areas"] == ["Neck", "Upper back"]
    assert intake["surgeries"] == [{"description": "Appendectomy", "performed_on": "2015-03-01"}]

    [screening] = parts["screening"]
    assert screening["questionnaire_version"] == 1
    assert screening["contraindications"] == ["Needle phobia"]
    said_yes = [answer["question"] for answer in screening["answers"] if answer["answer"]]
    assert len(said_yes) == 1
    assert "needle" in said_yes[0].lower()
    assert len(screening["answers"]) == ada.screening.answers.count()

    [consent] = parts["consents"]
    assert consent["text"] == ada.consent.text
    assert consent["text_sha256"] == hashlib.sha256(ada.consent.text.encode()).hexdigest()
    assert consent["signer_name"] == "Ada Quinn"
    assert consent["signed_at"] == utc(ada.consent.signed_at)
    assert consent["withdrawn_at"] == utc(ada.withdrawal.withdrawn_at)

    [session] = parts["sessions"]
    assert session["status"] == "Signed"
    assert session["starts_at"] == utc(ada.session.starts_at)
    assert session["therapist"] == world.therapist.get_full_name()
    assert session["clinic"] == "Kelowna"
    assert set(session) == {"starts_at", "ends_at", "clinic", "therapist", "status"}

    [plan] = parts["aftercare"]
    assert plan["activity_limits"] == "No overhead lifting until Friday."
    assert plan["exercises"] == [
        {
            "name": "Upper trapezius stretch",
            "sets": 3,
            "reps": None,
            "hold_seconds": 30,
            "frequency": "Twice a day",
            "notes": "",
        }
    ]
    assert plan["read_at"] == utc(ada.aftercare.read.read_at)
    assert plan["advice"] == ada.aftercare.plan.advice

    check_ins = parts["check_ins"]
    assert [check_in["hours_after"] for check_in in check_ins] == [72, 48, 24]
    answered = check_ins[-1]
    assert answered["answered_at"] == utc(ada.aftercare.answer.answered_at)
    [answers] = answered["answers"]
    assert answers["chest_pain"] is True
    assert answers["comments"] == "Sharp pain when breathing in"
    assert answers["triage"] == "Urgent"
    assert (check_ins[0]["answered_at"], check_ins[0]["answers"]) == (None, [])


def test_the_download_holds_the_patients_own_words_and_none_of_the_clinics_notes(world, client_of):
    ada = world.kelowna_record()
    body = client_of(ada.patient.user).get(reverse("portal:record_json")).content.decode()
    # The patient's own answers are theirs to take.
    for own in (ada.intake.presenting_complaint, "Appendectomy", ada.aftercare.answer.comments):
        assert own in body
    assert ada.aftercare.answer.comments in ada.clinical_answers()
    leaked = [note for note in staff_only(ada) if note in body]
    assert leaked == []


def test_another_patients_rows_never_appear(world, client_of):
    ada = world.kelowna_record()
    # Kit is treated at the same clinic by the same therapist, with one of everything too.
    kit = full_record(
        clinic=world.kelowna,
        therapist=world.therapist,
        admin=world.org_admin,
        first_name="Kit",
        last_name="Oduya",
    )
    world.other_record()
    record = download(client_of(ada.patient.user))
    body = json.dumps(record)
    assert "Oduya" not in body
    assert world.other_record().patient.last_name not in body
    parts = parts_of(record)
    assert [s["starts_at"] for s in parts["sessions"]] == [utc(ada.session.starts_at)]
    assert utc(kit.session.starts_at) not in [s["starts_at"] for s in parts["sessions"]]
    assert [c["signed_at"] for c in parts["consents"]] == [utc(ada.consent.signed_at)]
    assert [p["issued_at"] for p in parts["aftercare"]] == [utc(ada.aftercare.plan.issued_at)]
    ada_check_ins = CheckIn.objects.filter(patient=ada.patient).order_by("-due_at")
    assert [c["due_at"] for c in parts["check_ins"]] == [utc(c.due_at) for c in ada_check_ins]
    assert len(parts["screening"]) == 1


def test_a_plan_still_being_written_is_not_in_the_record(world, client_of, patient):
    ready_to_needle(patient, by=world.therapist)
    session = started_session(patient=patient, therapist=world.therapist)
    draft_plan(session, therapist=world.therapist)
    parts = parts_of(download(client_of(patient.user)))
    assert parts["aftercare"] == []
    assert parts["check_ins"] == []
    assert [s["status"] for s in parts["sessions"]] == ["In progress"]


def test_the_printable_page_shows_every_part_and_the_download(world, client_of):
    ada = world.kelowna_record()
    client = client_of(ada.patient.user)
    page = client.get(reverse("portal:record"))
    assert page.status_code == 200
    shown = text(page)
    for title in TITLES:
        assert title in shown
    for own in (
        "Ada Quinn",
        "Appendectomy",
        "Upper trapezius stretch",
        "Sharp pain when breathing in",
    ):
        assert own in shown
    assert ada.consent.text_sha256 in shown
    assert [note for note in staff_only(ada) if note in shown] == []
    assert "ask the clinic" in shown
    assert reverse("portal:record_json") in page.content.decode()
    assert 'class="actions no-print"' in page.content.decode()
    home = client.get(reverse("portal:home"))
    assert reverse("portal:record") in home.content.decode()
    assert "Download your record" in text(home)


def test_the_download_is_an_attachment_named_for_the_day_and_not_cached(world, client_of):
    ada = world.kelowna_record()
    response = client_of(ada.patient.user).get(reverse("portal:record_json"))
    day = ada.patient.local_today()
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="fascia-record-{day:%Y-%m-%d}.json"'
    )
    assert response["Cache-Control"] == "no-store"


def test_the_download_is_logged_as_a_read_of_each_part(world, client_of):
    ada = world.kelowna_record()
    client_of(ada.patient.user).get(reverse("portal:record_json"))
    parts = set(
        RecordRead.objects.filter(patient=ada.patient, reader=ada.patient.user).values_list(
            "part", flat=True
        )
    )
    assert RecordPart.CHART not in parts
    assert {RecordPart.DETAILS, RecordPart.CONSENT, RecordPart.AFTERCARE} <= parts


@pytest.mark.parametrize("name", ["record", "record_json"])
def test_staff_without_a_patient_record_find_nothing(world, client_of, name):
    world.kelowna_record()
    for user in [*world.staff_by_role().values(), world.other_therapist]:
        assert client_of(user).get(reverse(f"portal:{name}")).status_code == 404


def test_anyone_logged_out_is_sent_to_log_in(client):
    response = client.get(reverse("portal:record_json"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_record_is_assembled_for_its_own_login_only(world):
    ada = world.kelowna_record()
    with pytest.raises(ValueError, match="own login"):
        own_record(world.therapist, ada.patient)


def test_a_patient_of_two_organisations_downloads_the_one_chosen(world, client_of, patient):
    halifax = PatientFactory(
        home_clinic=world.halifax, first_name="Pat", last_name="Morgan", user=patient.user
    )
    client = client_of(patient.user)
    assert download(client)["patient"]["organization"] == "Kelowna Physio"
    client.post(reverse("portal:home"), {"record": str(halifax.pk)})
    record = download(client)
    assert record["patient"]["organization"] == "Harbourside"
    assert parts_of(record)["details"][0]["home_clinic"] == "Halifax"


def test_the_download_costs_the_same_queries_for_one_session_or_five(world, client_of, patient):
    client = client_of(patient.user)
    # Sessions on five days gone by, each signed on its day (the clock moved there).
    first = day_at(-5, 9, clinic=world.kelowna)
    signed_session(patient, therapist=world.therapist, starts_at=first)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("portal:record_json"))
    for day in range(1, 5):
        signed_session(
            patient, therapist=world.therapist, starts_at=first + datetime.timedelta(days=day)
        )
    with CaptureQueriesContext(connection) as five:
        record = download(client)
    parts = parts_of(record)
    assert len(parts["sessions"]) == 5
    assert len(parts["aftercare"]) == 5
    assert len(parts["check_ins"]) == 15
    assert len(five) == len(one)
