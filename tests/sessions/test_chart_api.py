"""The chart through the API: read with an ETag, save over If-Match, rows, signing, addenda;
the muscle vocabulary, chart templates, the lot recall and the review of adverse events."""

import datetime
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from patients import services as patient_services
from patients.models import ReadVia, RecordPart, RecordRead
from sessions import services
from sessions.models import (
    AdverseEvent,
    Chart,
    ChartTemplate,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    Status,
)
from tests.patients.factories import (
    PatientFactory,
    answers_for,
    day_at,
    tomorrow_at,
    with_portal_login,
)
from tests.sessions.factories import RISK_MUSCLE, chart_and_sign, site_fields, this_minute

JSON = "application/json"


def call(client, method, url, body=None, **headers):
    return getattr(client, method)(url, body or {}, content_type=JSON, headers=headers)


def ready_patient(world, clinic=None, **fields):
    """A patient with a fresh screening and a signed consent: ready to be needled."""
    clinic = clinic or world.kelowna
    patient = PatientFactory(home_clinic=clinic, **fields)
    questionnaire = patient_services.current_questionnaire(patient.organization)
    patient_services.submit_screening(
        patient=patient, by=world.therapist, answers=answers_for(questionnaire)
    )
    patient_services.sign_consent(
        patient=patient,
        by=world.therapist,
        template=patient_services.current_consent_template(patient.organization),
        signer_name=patient.full_name,
    )
    return patient


def started(world, patient=None, hour=None, therapist=None):
    """A session in progress with the Kelowna therapist (or `therapist`), booked for this
    minute; or for `hour` tomorrow, booked and started with the clock there (a session is
    started on its own day only)."""
    therapist = therapist or world.therapist
    if hour is not None:
        with time_machine.travel(tomorrow_at(hour, clinic=world.kelowna)):
            return started(world, patient, therapist=therapist)
    session = services.book_session(
        clinic=world.kelowna,
        therapist=therapist,
        patient=patient or ready_patient(world),
        starts_at=this_minute(),
        by=world.front_desk,
    )
    return services.start_session(session=session, by=therapist)


def chart_url(session, name="chart", *args):
    return reverse(f"session-{name}", args=[session.pk, *args])


def json_site(**overrides):
    return {key: str(value) for key, value in site_fields(**overrides).items()}


ROW_BODIES = {
    "needle-sites": json_site(),
    "range-of-motion": {
        "joint": "shoulder",
        "movement": "abduction",
        "side": "right",
        "degrees": 150,
    },
    "pressure-pain-thresholds": {"site": "Upper trapezius", "side": "left", "kg_per_cm2": "2.5"},
    "adverse-events": {
        "kind": "bruising",
        "severity": "mild",
        "action_taken": "Pressure and ice for five minutes",
    },
}
ROW_MODELS = {
    "needle-sites": NeedleSite,
    "range-of-motion": RangeOfMotion,
    "pressure-pain-thresholds": PressurePainThreshold,
    "adverse-events": AdverseEvent,
}


@pytest.fixture
def session(world):
    return started(world)


@pytest.fixture
def signed(world):
    """A fully charted, signed session with an addendum and a reviewed pneumothorax."""
    return chart_and_sign(started(world, hour=15), therapist=world.therapist, admin=world.org_admin)


# --- Reading the chart -------------------------------------------------------------------


def test_a_therapist_reads_the_whole_chart_with_its_etag_and_the_read_is_logged(
    world, client_of, signed
):
    response = client_of(world.therapist).get(chart_url(signed.session))
    assert response.status_code == 200
    assert response["ETag"] == f'"{signed.chart.version}"'
    chart = response.json()
    assert chart["status"] == "signed"
    assert chart["signed_by"]["id"] == str(world.therapist.pk)
    assert chart["complaint"] == "Tension headaches since the new job"
    assert (chart["pain_before"], chart["pain_after"]) == (6, 3)
    assert chart["needles_inserted"] == chart["needles_removed"] == chart["needles_charted"] == 3
    assert chart["version"] == signed.chart.version
    assert chart["updated_by"]["full_name"] == world.therapist.get_full_name()
    assert chart["template"]["name"] == signed.chart_template.name
    assert chart["override"] is None
    risky, added = chart["needle_sites"]
    assert risky["muscle"] == {
        "code": RISK_MUSCLE,
        "name": "Upper trapezius",
        "region": "head_neck",
        "pneumothorax_risk": True,
    }
    assert risky["risk_acknowledged_by"]["id"] == str(world.therapist.pk)
    assert risky["lot_number"] == "LOT-2026-A"
    assert added["muscle"]["code"] == signed.organization_muscle.code
    assert chart["range_of_motion"][0]["degrees"] == 60
    assert chart["pressure_pain_thresholds"][0]["kg_per_cm2"] == "2.5"
    (event,) = chart["adverse_events"]
    assert event["kind"] == "pneumothorax"
    assert event["needs_review"] is False
    assert event["review"]["note"] == "Technique reviewed with the therapist."
    assert [addendum["text"] for addendum in chart["addenda"]] == ["X-ray clear: no pneumothorax."]
    read = RecordRead.objects.get(part=RecordPart.CHART)
    assert (read.reader, read.patient, read.via) == (
        world.therapist,
        signed.session.patient,
        ReadVia.API,
    )
    assert read.item_id == signed.session.pk


def booked(world, hour=11):
    return services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ready_patient(world),
        starts_at=tomorrow_at(hour, clinic=world.kelowna),
        by=world.front_desk,
    )


def test_a_session_not_started_yet_reads_as_an_empty_chart_at_version_1(world, client_of):
    session = booked(world)
    response = client_of(world.manager).get(chart_url(session))
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    chart = response.json()
    assert (chart["status"], chart["version"], chart["complaint"]) == ("booked", 1, "")
    assert (chart["updated_at"], chart["updated_by"]) == (None, None)
    assert chart["needle_sites"] == []
    assert not Chart.objects.exists()
    refused = call(
        client_of(world.therapist), "patch", chart_url(session), {"plan": "x"}, **{"If-Match": "1"}
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "session_state"


def test_the_override_reason_is_shown_in_the_chart(world, client_of):
    patient = PatientFactory(home_clinic=world.kelowna)
    questionnaire = patient_services.current_questionnaire(patient.organization)
    patient_services.submit_screening(
        patient=patient, by=world.therapist, answers=answers_for(questionnaire, "blood_thinners")
    )
    patient_services.sign_consent(
        patient=patient,
        by=world.therapist,
        template=patient_services.current_consent_template(patient.organization),
        signer_name=patient.full_name,
    )
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=this_minute(),
        by=world.front_desk,
    )
    services.start_session(session=session, by=world.therapist, override_reason="INR 2.1 today")
    override = client_of(world.therapist).get(chart_url(session)).json()["override"]
    assert override["contraindications"] == ["blood_thinners"]
    assert override["reason"] == "INR 2.1 today"


# --- Saving over If-Match ----------------------------------------------------------------


def test_saving_without_if_match_is_428_naming_the_header(world, client_of, session):
    response = call(client_of(world.therapist), "patch", chart_url(session), {"complaint": "Neck"})
    assert response.status_code == 428
    body = response.json()
    assert body["code"] == "precondition_required"
    assert "If-Match" in body["detail"]
    assert list(body["fields"]) == ["If-Match"]
    assert Chart.objects.get(session=session).complaint == ""


@pytest.mark.parametrize("tag", ['"1"', "1", 'W/"1"', " W/1 "])
def test_saving_over_the_version_read_answers_the_new_etag(world, client_of, session, tag):
    response = call(
        client_of(world.therapist),
        "patch",
        chart_url(session),
        {"complaint": "Neck pain", "pain_before": 7},
        **{"If-Match": tag},
    )
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'
    assert (response.json()["complaint"], response.json()["version"]) == ("Neck pain", 2)
    chart = Chart.objects.get(session=session)
    assert (chart.complaint, chart.pain_before, chart.updated_by) == (
        "Neck pain",
        7,
        world.therapist,
    )
    assert RecordRead.objects.filter(part=RecordPart.CHART, item_id=session.pk).count() == 1


def test_a_save_over_a_newer_version_is_412_saying_who_saved_and_what_changed(
    world, client_of, session
):
    therapist, manager = client_of(world.therapist), client_of(world.manager)
    etag = therapist.get(chart_url(session))["ETag"]
    assert manager.get(chart_url(session))["ETag"] == etag
    saved = call(
        therapist, "patch", chart_url(session), {"plan": "Weekly x4"}, **{"If-Match": etag}
    )
    assert saved["ETag"] == '"2"'
    late = call(manager, "patch", chart_url(session), {"plan": "Discharge"}, **{"If-Match": etag})
    assert late.status_code == 412
    body = late.json()
    assert body["code"] == "edit_conflict"
    assert list(body["fields"]) == ["If-Match"]
    assert body["version"] == 2
    assert body["saved_by"] == world.therapist.get_full_name()
    assert body["saved_at"]
    assert body["changed"] == {"plan": "Weekly x4"}
    assert world.therapist.get_full_name() in body["detail"]
    assert Chart.objects.get(session=session).plan == "Weekly x4"
    again = call(manager, "patch", chart_url(session), {"plan": "Discharge"}, **{"If-Match": '"2"'})
    assert again.status_code == 200
    assert again.json()["plan"] == "Discharge"


def test_a_malformed_if_match_is_refused_naming_the_header(world, client_of, session):
    for tag in ("abc", '"0"', "*", '"1", "2"'):
        response = call(
            client_of(world.therapist),
            "patch",
            chart_url(session),
            {"plan": "x"},
            **{"If-Match": tag},
        )
        assert response.status_code == 400, tag
        assert list(response.json()["fields"]) == ["If-Match"], tag


def test_chart_fields_are_checked_naming_each(world, client_of, session):
    client = client_of(world.therapist)
    cases = {
        "complain": {"complain": "typo"},
        "pain_before": {"pain_before": 11},
        "needles_removed": {"needles_removed": "many"},
    }
    for field, body in cases.items():
        response = call(client, "patch", chart_url(session), body, **{"If-Match": "1"})
        assert response.status_code == 400, field
        assert list(response.json()["fields"]) == [field], response.json()
    assert not Chart.objects.filter(version__gt=1).exists()


def test_the_needling_end_is_saved_on_the_clinics_clock_and_checked(world, client_of):
    ten = day_at(0, 10, clinic=world.kelowna)
    with time_machine.travel(ten, tick=False):
        session = started(world)
    with time_machine.travel(ten + datetime.timedelta(minutes=40), tick=False):
        client = client_of(world.therapist)
        # Without an offset, on the clinic's clock (Kelowna's, whatever UTC says).
        typed = f"{ten:%Y-%m-%d}T10:25:00"
        saved = call(
            client, "patch", chart_url(session), {"needling_ended_at": typed}, **{"If-Match": "1"}
        )
        assert saved.status_code == 200, saved.json()
        ended = ten + datetime.timedelta(minutes=25)
        assert parse_datetime(saved.json()["needling_ended_at"]) == ended
        assert Chart.objects.get(session=session).needling_ended_at == ended
        # With one, that instant; to the minute.
        later = (ten + datetime.timedelta(minutes=30, seconds=10)).astimezone(datetime.UTC)
        again = call(
            client,
            "patch",
            chart_url(session),
            {"needling_ended_at": later.isoformat()},
            **{"If-Match": saved["ETag"]},
        )
        assert parse_datetime(again.json()["needling_ended_at"]) == ten + datetime.timedelta(
            minutes=30
        )
        future = call(
            client,
            "patch",
            chart_url(session),
            {"needling_ended_at": f"{ten:%Y-%m-%d}T10:45"},
            **{"If-Match": again["ETag"]},
        )
        assert future.status_code == 400
        assert future.json()["code"] == "chart_invalid"
        [message] = future.json()["fields"]["needling_ended_at"]
        assert "record the end once it has happened" in message
        cleared = call(
            client,
            "patch",
            chart_url(session),
            {"needling_ended_at": None},
            **{"If-Match": again["ETag"]},
        )
        assert cleared.json()["needling_ended_at"] is None


def test_a_signed_chart_is_read_only(world, client_of, signed):
    client = client_of(world.therapist)
    etag = client.get(chart_url(signed.session))["ETag"]
    refused = call(client, "patch", chart_url(signed.session), {"plan": "x"}, **{"If-Match": etag})
    assert refused.status_code == 409
    assert refused.json()["code"] == "session_signed"
    assert "addendum" in refused.json()["detail"]
    added = call(client, "post", chart_url(signed.session, "needle-sites"), json_site())
    assert added.json()["code"] == "session_signed"
    removed = client.delete(chart_url(signed.session, "needle-sites-detail", signed.needle_site.pk))
    assert removed.status_code == 409
    assert NeedleSite.objects.filter(pk=signed.needle_site.pk).exists()
    assert Chart.objects.get(pk=signed.chart.pk).version == signed.chart.version


# --- Templates and signing ---------------------------------------------------------------


def test_a_template_fills_the_empty_fields_and_a_stale_version_is_409(world, client_of, session):
    template = ChartTemplate.objects.create(
        organization=world.organization, name="Low back", plan="Home exercises", complaint="LBP"
    )
    client = client_of(world.therapist)
    colleague = client_of(world.manager)
    call(colleague, "patch", chart_url(session), {"complaint": "Sciatica"}, **{"If-Match": "1"})
    url = chart_url(session, "chart-template")
    stale = call(client, "post", url, {"template": str(template.pk), "version": 1})
    assert stale.status_code == 409
    assert stale.json()["code"] == "edit_conflict"
    assert stale.json()["changed"] == {"complaint": "Sciatica"}
    assert list(stale.json()["fields"]) == ["version"]
    applied = call(client, "post", url, {"template": str(template.pk), "version": 2})
    assert applied.status_code == 200
    assert applied["ETag"] == '"3"'
    chart = applied.json()
    assert (chart["complaint"], chart["plan"]) == ("Sciatica", "Home exercises")
    assert chart["template"] == {"id": str(template.pk), "name": "Low back"}
    other = ChartTemplate.objects.create(organization=world.other_organization, name="Theirs")
    foreign = call(client, "post", url, {"template": str(other.pk), "version": 3})
    assert foreign.status_code == 400
    assert list(foreign.json()["fields"]) == ["template"]


def test_signing_checks_the_needle_count_and_if_match_then_locks(world, client_of, session):
    client = client_of(world.therapist)
    added = call(client, "post", chart_url(session, "needle-sites"), json_site(needles=2))
    assert added.status_code == 201
    assert call(client, "get", chart_url(session))["ETag"] == '"2"'  # a new row, a new version
    call(
        client,
        "patch",
        chart_url(session),
        {"needles_inserted": 2, "needles_removed": 1},
        **{"If-Match": "2"},
    )
    short = call(client, "post", chart_url(session, "sign"))
    assert short.status_code == 400
    assert short.json()["code"] == "signing_refused"
    assert list(short.json()["fields"]) == ["needles_removed"]
    call(client, "patch", chart_url(session), {"needles_removed": 2}, **{"If-Match": "3"})
    stale = call(client, "post", chart_url(session, "sign"), **{"If-Match": '"3"'})
    assert stale.status_code == 412
    assert stale.json()["changed"] == {"needles_removed": 2}
    manager = call(client_of(world.manager), "post", chart_url(session, "sign"))
    assert manager.status_code == 403
    done = call(client, "post", chart_url(session, "sign"), **{"If-Match": '"4"'})
    assert done.status_code == 200
    assert done.json()["status"] == "signed"
    assert done["ETag"] == '"4"'
    session.refresh_from_db()
    assert (session.status, session.signed_by) == (Status.SIGNED, world.therapist)


# --- Rows ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ROW_BODIES))
def test_a_row_is_added_once_per_idempotency_key_and_removed(world, client_of, session, kind):
    client = client_of(world.therapist)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = call(client, "post", chart_url(session, kind), ROW_BODIES[kind], **key)
    assert first.status_code == 201, first.json()
    again = call(client, "post", chart_url(session, kind), ROW_BODIES[kind], **key)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    model = ROW_MODELS[kind]
    assert model.objects.filter(session=session).count() == 1
    assert first.json()["recorded_by"]["id"] == str(world.therapist.pk)
    url = chart_url(session, f"{kind}-detail", first.json()["id"])
    assert client.delete(url).status_code == 204
    assert not model.objects.filter(session=session).exists()
    gone = client.delete(url)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


def test_an_idempotency_key_used_for_another_session_is_409_naming_the_header(
    world, client_of, session
):
    other = started(world, hour=13)
    client = client_of(world.therapist)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    call(client, "post", chart_url(session, "needle-sites"), json_site(), **key)
    reused = call(client, "post", chart_url(other, "needle-sites"), json_site(), **key)
    assert reused.status_code == 409
    assert list(reused.json()["fields"]) == ["Idempotency-Key"]
    assert not NeedleSite.objects.filter(session=other).exists()
    bad = call(
        client,
        "post",
        chart_url(other, "needle-sites"),
        json_site(),
        **{"Idempotency-Key": "twice"},
    )
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["Idempotency-Key"]


def test_needle_site_refusals_name_the_field(world, client_of, session):
    client = client_of(world.therapist)
    url = chart_url(session, "needle-sites")
    cases = {
        "risk_acknowledged": json_site(muscle=RISK_MUSCLE),
        "muscle": json_site(muscle="no-such-muscle"),
        "side": json_site(side="middle"),
        "depth_mm": json_site(depth_mm="60", needle_length_mm="50"),
        "lot_number": json_site(lot_number="  "),
        "needles": json_site(needles="0"),
    }
    for field, body in cases.items():
        response = call(client, "post", url, body)
        assert response.status_code == 400, field
        assert list(response.json()["fields"]) == [field], (field, response.json())
    assert not NeedleSite.objects.exists()
    acknowledged = call(
        client, "post", url, {**cases["risk_acknowledged"], "risk_acknowledged": True}
    )
    assert acknowledged.status_code == 201
    assert acknowledged.json()["pneumothorax_risk"] is True


def test_a_row_of_another_session_is_not_removed_through_this_one(world, client_of, session):
    other = started(world, hour=13)
    site = services.add_needle_site(session=other, by=world.therapist, **site_fields())
    response = client_of(world.therapist).delete(chart_url(session, "needle-sites-detail", site.pk))
    assert response.status_code == 404
    assert NeedleSite.objects.filter(pk=site.pk).exists()


# --- Addenda -------------------------------------------------------------------------------


def test_addenda_are_listed_and_added_once_under_a_signed_chart(world, client_of, signed):
    client = client_of(world.manager)
    url = chart_url(signed.session, "addenda")
    listed = client.get(url)
    assert listed.status_code == 200
    assert [item["text"] for item in listed.json()["results"]] == ["X-ray clear: no pneumothorax."]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    added = call(client, "post", url, {"text": "Follow-up call: well."}, **key)
    assert added.status_code == 201
    assert added.json()["author"]["id"] == str(world.manager.pk)
    again = call(client, "post", url, {"text": "Follow-up call: well."}, **key)
    assert again.json()["id"] == added.json()["id"]
    assert client.get(url).json()["count"] == 2
    empty = call(client, "post", url, {"text": ""})
    assert list(empty.json()["fields"]) == ["text"]


def test_a_draft_takes_no_addendum(world, client_of, session):
    response = call(
        client_of(world.therapist), "post", chart_url(session, "addenda"), {"text": "x"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "session_state"


# --- Who is refused --------------------------------------------------------------------------


def test_the_front_desk_is_refused_the_chart_but_still_lists_the_session(world, client_of, signed):
    desk = client_of(world.front_desk)
    session = signed.session
    attempts = [
        desk.get(chart_url(session)),
        call(desk, "patch", chart_url(session), {"plan": "x"}, **{"If-Match": "1"}),
        call(desk, "post", chart_url(session, "sign")),
        call(desk, "post", chart_url(session, "needle-sites"), json_site()),
        desk.delete(chart_url(session, "needle-sites-detail", signed.needle_site.pk)),
        desk.get(chart_url(session, "addenda")),
        call(desk, "post", chart_url(session, "addenda"), {"text": "x"}),
    ]
    for response in attempts:
        assert response.status_code == 403, response.request["PATH_INFO"]
        assert response.json()["code"] == "permission_denied"
        assert "clinical notes" in response.json()["detail"]
        assert signed.chart.complaint not in response.text
    assert not RecordRead.objects.filter(part=RecordPart.CHART).exists()
    listed = desk.get(reverse("session-list")).json()
    assert str(session.pk) in {item["id"] for item in listed["results"]}
    assert desk.get(reverse("session-detail", args=[session.pk])).status_code == 200


def test_a_patient_reads_their_booking_but_not_its_chart(world, client_of, signed):
    patient = signed.session.patient
    client = client_of(with_portal_login(patient).user)
    assert client.get(reverse("session-detail", args=[signed.session.pk])).status_code == 200
    assert client.get(chart_url(signed.session)).status_code == 403


def test_other_clinics_and_organisations_get_404_everywhere(world, client_of, signed):
    session = signed.session
    for person in (world.vernon_therapist, world.other_therapist, world.other_admin):
        client = client_of(person)
        responses = [
            client.get(chart_url(session)),
            call(client, "patch", chart_url(session), {"plan": "x"}, **{"If-Match": "1"}),
            client.delete(chart_url(session, "needle-sites-detail", signed.needle_site.pk)),
            client.delete(chart_url(session, "adverse-events-detail", signed.adverse_event.pk)),
            client.get(chart_url(session, "addenda")),
            client.get(reverse("adverse-event-detail", args=[signed.adverse_event.pk])),
        ]
        if person != world.vernon_therapist:  # templates belong to the whole organisation
            responses.append(
                client.get(reverse("chart-template-detail", args=[signed.chart_template.pk]))
            )
        for response in responses:
            assert response.status_code == 404, (person, response.request["PATH_INFO"])
            assert response.json()["code"] == "not_found"
    assert NeedleSite.objects.filter(pk=signed.needle_site.pk).exists()


# --- The recall ---------------------------------------------------------------------------


def test_the_recall_lists_everyone_needled_with_a_lot(world, client_of, session):
    services.add_needle_site(session=session, by=world.therapist, **site_fields())
    second = started(world, hour=13)
    services.add_needle_site(session=second, by=world.therapist, **site_fields(side="right"))
    services.add_needle_site(
        session=second, by=world.therapist, **site_fields(lot_number="LOT-2026-B")
    )
    client = client_of(world.org_admin)
    response = client.get(reverse("needle-site-list"), {"lot_number": " lot-2026-a "})
    assert response.status_code == 200
    listed = response.json()
    assert listed["count"] == 2
    first = listed["results"][0]
    assert first["lot_number"] == "LOT-2026-A"
    assert first["session"]["patient"] == {
        "id": str(session.patient.pk),
        "full_name": session.patient.full_name,
    }
    assert first["session"]["clinic"]["name"] == "Kelowna"
    assert first["session"]["therapist"]["id"] == str(world.therapist.pk)
    day = timezone.localdate(session.starts_at, timezone=world.kelowna.zone)
    assert first["session"]["date"] == day.isoformat()
    assert first["muscle"]["code"] == site_fields()["muscle"]
    assert {
        pk for read in RecordRead.objects.filter(part=RecordPart.CHART) for pk in read.patient_ids
    } == {session.patient.pk, second.patient.pk}
    mine = client.get(
        reverse("needle-site-list"),
        {"lot_number": "LOT-2026-A", "patient": str(second.patient.pk)},
    )
    assert mine.json()["count"] == 1
    assert (
        client_of(world.vernon_therapist)
        .get(reverse("needle-site-list"), {"lot_number": "LOT-2026-A"})
        .json()["count"]
        == 0
    )
    assert (
        client_of(world.other_admin)
        .get(reverse("needle-site-list"), {"lot_number": "LOT-2026-A"})
        .json()["count"]
        == 0
    )


def test_the_recall_needs_a_lot_number_and_a_clinical_role(world, client_of):
    missing = client_of(world.therapist).get(reverse("needle-site-list"))
    assert missing.status_code == 400
    assert list(missing.json()["fields"]) == ["lot_number"]
    desk = client_of(world.front_desk).get(reverse("needle-site-list"), {"lot_number": "X"})
    assert desk.status_code == 403
    assert "recall" in desk.json()["detail"]


# --- Adverse events and their review ---------------------------------------------------------


def test_a_suspected_pneumothorax_waits_for_an_organisation_admins_review(
    world, client_of, session
):
    event = services.add_adverse_event(
        session=session,
        by=world.therapist,
        kind="pneumothorax",
        severity="severe",
        action_taken="Called 911",
    )
    services.add_adverse_event(
        session=session, by=world.therapist, kind="bruising", severity="mild", action_taken="Ice"
    )
    admin = client_of(world.org_admin)
    waiting = admin.get(reverse("adverse-event-list"), {"needs_review": "true"}).json()
    assert [item["id"] for item in waiting["results"]] == [str(event.pk)]
    assert waiting["results"][0]["session"]["patient"]["id"] == str(session.patient.pk)
    assert admin.get(reverse("adverse-event-list"), {"needs_review": "false"}).json()["count"] == 1
    url = reverse("adverse-event-review", args=[event.pk])
    therapist = call(client_of(world.therapist), "post", url, {"note": "Looked at it"})
    assert therapist.status_code == 403
    empty = call(admin, "post", url, {"note": ""})
    assert list(empty.json()["fields"]) == ["note"]
    reviewed = call(admin, "post", url, {"note": "Chest X-ray clear; technique reviewed."})
    assert reviewed.status_code == 201
    assert reviewed.json()["needs_review"] is False
    assert reviewed.json()["review"]["reviewed_by"]["id"] == str(world.org_admin.pk)
    twice = call(admin, "post", url, {"note": "Again"})
    assert twice.status_code == 409
    assert admin.get(reverse("adverse-event-list"), {"needs_review": "true"}).json()["count"] == 0
    bruise = AdverseEvent.objects.get(kind="bruising")
    no_review = call(
        admin, "post", reverse("adverse-event-review", args=[bruise.pk]), {"note": "x"}
    )
    assert no_review.status_code == 400
    assert list(no_review.json()["fields"]) == ["adverse_event"]


def test_adverse_events_are_clinical_the_front_desk_lists_none(world, client_of, signed):
    desk = client_of(world.front_desk)
    assert desk.get(reverse("adverse-event-list")).json()["count"] == 0
    therapist = client_of(world.therapist)
    assert therapist.get(reverse("adverse-event-list")).json()["count"] == 1
    read = therapist.get(reverse("adverse-event-detail", args=[signed.adverse_event.pk]))
    assert read.status_code == 200
    assert RecordRead.objects.get(part=RecordPart.CHART, item_id=signed.session.pk)
    bad = therapist.get(reverse("adverse-event-list"), {"kind": "sunburn"})
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["kind"]


# --- The muscle vocabulary and chart templates --------------------------------------------------


def test_the_vocabulary_is_the_defaults_and_the_organisations_own(world, client_of):
    services.add_muscle(
        organization=world.other_organization,
        by=world.other_admin,
        name="Their muscle",
        region="thigh",
        pneumothorax_risk=False,
    )
    admin = client_of(world.org_admin)
    added = call(
        admin,
        "post",
        reverse("muscle-list"),
        {
            "organization": str(world.organization.pk),
            "name": "Obliquus capitis inferior",
            "region": "head_neck",
        },
    )
    assert added.status_code == 201, added.json()
    assert added.json()["code"] == "obliquus-capitis-inferior"
    assert added.json()["organization"] == str(world.organization.pk)
    therapist = client_of(world.therapist)
    listed = therapist.get(reverse("muscle-list"), {"page_size": 200}).json()
    codes = {muscle["code"]: muscle for muscle in listed["results"]}
    assert codes["obliquus-capitis-inferior"]["id"] == added.json()["id"]
    assert codes[RISK_MUSCLE]["id"] is None
    assert codes[RISK_MUSCLE]["pneumothorax_risk"] is True
    assert "their-muscle" not in codes
    head = therapist.get(reverse("muscle-list"), {"region": "head_neck", "page_size": 200}).json()
    assert {muscle["region"] for muscle in head["results"]} == {"head_neck"}
    assert "obliquus-capitis-inferior" in {muscle["code"] for muscle in head["results"]}


def test_adding_a_muscle_is_for_organisation_admins_and_names_the_field(world, client_of):
    body = {"organization": str(world.organization.pk), "name": "Teres minor", "region": "shoulder"}
    therapist = call(client_of(world.therapist), "post", reverse("muscle-list"), body)
    assert therapist.status_code == 400
    assert list(therapist.json()["fields"]) == ["organization"]
    admin = client_of(world.org_admin)
    taken = call(admin, "post", reverse("muscle-list"), {**body, "name": "Upper trapezius"})
    assert taken.status_code == 400
    assert list(taken.json()["fields"]) == ["name"]
    region = call(admin, "post", reverse("muscle-list"), {**body, "region": "tail"})
    assert list(region.json()["fields"]) == ["region"]
    foreign = admin.get(reverse("muscle-list"), {"organization": str(world.other_organization.pk)})
    assert list(foreign.json()["fields"]) == ["organization"]
    assert client_of(world.front_desk).get(reverse("muscle-list")).status_code == 403
    assert not OrganizationMuscle.objects.exists()


def test_chart_templates_are_read_by_clinical_staff_and_kept_by_admins(world, client_of):
    admin = client_of(world.org_admin)
    body = {"organization": str(world.organization.pk), "name": "Neck", "plan": "Review in 1 wk"}
    made = call(admin, "post", reverse("chart-template-list"), body)
    assert made.status_code == 201, made.json()
    assert (made.json()["plan"], made.json()["is_active"]) == ("Review in 1 wk", True)
    url = reverse("chart-template-detail", args=[made.json()["id"]])
    twice = call(admin, "post", reverse("chart-template-list"), body)
    assert twice.status_code == 400
    assert list(twice.json()["fields"]) == ["name"]
    changed = call(admin, "patch", url, {"is_active": False})
    assert changed.status_code == 200
    assert (changed.json()["is_active"], changed.json()["plan"]) == (False, "Review in 1 wk")
    therapist = client_of(world.therapist)
    assert therapist.get(reverse("chart-template-list")).json()["count"] == 1
    assert therapist.get(url).status_code == 200
    assert call(therapist, "patch", url, {"plan": "Mine"}).status_code == 403
    refused = call(therapist, "post", reverse("chart-template-list"), {**body, "name": "Other"})
    assert list(refused.json()["fields"]) == ["organization"]
    assert client_of(world.front_desk).get(reverse("chart-template-list")).json()["count"] == 0
    assert ChartTemplate.objects.get().plan == "Review in 1 wk"


# --- Query budgets: the same for one row as for many -------------------------------------------


def queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(captured)


def test_the_chart_costs_the_same_queries_with_one_row_or_many(
    world, client_of, session, django_assert_max_num_queries
):
    client = client_of(world.therapist)
    for kind, body in ROW_BODIES.items():
        call(client, "post", chart_url(session, kind), body)
    one = queries(client, chart_url(session))
    for kind, body in ROW_BODIES.items():
        for _ in range(3):
            call(client, "post", chart_url(session, kind), body)
    with django_assert_max_num_queries(one):
        chart = client.get(chart_url(session)).json()
    assert len(chart["needle_sites"]) == 4


def test_the_lists_cost_the_same_queries_for_one_row_or_many(
    world, client_of, django_assert_max_num_queries
):
    def chart_a_session(hour):
        session = started(world, hour=hour)
        services.add_needle_site(session=session, by=world.therapist, **site_fields())
        services.add_adverse_event(
            session=session,
            by=world.therapist,
            kind="pneumothorax",
            severity="mild",
            action_taken="Observed",
        )
        ChartTemplate.objects.create(organization=world.organization, name=f"Template {hour}")
        services.add_muscle(
            organization=world.organization,
            by=world.org_admin,
            name=f"Muscle {hour}",
            region="thigh",
            pneumothorax_risk=False,
        )
        return session

    client = client_of(world.org_admin)
    chart_a_session(8)
    lists = {
        "recall": (reverse("needle-site-list"), {"lot_number": "LOT-2026-A"}),
        "adverse events": (reverse("adverse-event-list"), {}),
        "templates": (reverse("chart-template-list"), {}),
        "muscles": (reverse("muscle-list"), {}),
        "sessions": (reverse("session-list"), {}),
    }
    one = {name: queries(client, url, params) for name, (url, params) in lists.items()}
    for hour in (9, 11, 13, 15):
        chart_a_session(hour)
    for name, (url, params) in lists.items():
        with django_assert_max_num_queries(one[name]):
            response = client.get(url, params)
        assert response.json()["count"] >= 5, name


def test_the_addenda_cost_the_same_queries_for_one_or_many(
    world, client_of, signed, django_assert_max_num_queries
):
    client = client_of(world.therapist)
    url = chart_url(signed.session, "addenda")
    one = queries(client, url)
    for n in range(4):
        services.add_addendum(session=signed.session, by=world.manager, text=f"Note {n}")
    with django_assert_max_num_queries(one):
        assert client.get(url).json()["count"] == 5
