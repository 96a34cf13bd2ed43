"""The session pages: the day's list, booking, the start gate, charting, signing, addenda."""

import datetime
import re
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from patients.models import RecordPart, RecordRead
from sessions import services
from sessions.models import AdverseEvent, Chart, NeedleSite, Status, TreatmentSession
from tests.organisation_rows import organisation_rows
from tests.patients.factories import PatientFactory, day_at, tomorrow_at
from tests.patients.test_pages import (
    ATTEMPT,
    html,
    page_url,
    uuid_patterns,
)
from tests.sessions.factories import (
    RISK_MUSCLE,
    SAFE_MUSCLE,
    chart_and_sign,
    ready_to_needle,
    site_fields,
    this_minute,
)


def ready_patient(world, *yes, **fields):
    """A Kelowna patient with a fresh screening (yes to `yes`) and a signed consent."""
    patient = PatientFactory(home_clinic=world.kelowna, **fields)
    return ready_to_needle(patient, by=world.therapist, contraindications=yes)


def booked(world, patient=None, *, hour=None, minute=0):
    """Booked by the front desk for this minute, or for `hour`:`minute` tomorrow."""
    return services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient or ready_patient(world),
        starts_at=this_minute()
        if hour is None
        else tomorrow_at(hour, minute, clinic=world.kelowna),
        by=world.front_desk,
    )


def started(world, patient=None, *, hour=None):
    """Booked for this minute and started; or for `hour` tomorrow, booked and started with the
    clock there (a session is started on its own day only)."""
    if hour is not None:
        with time_machine.travel(tomorrow_at(hour, clinic=world.kelowna)):
            return started(world, patient)
    return services.start_session(session=booked(world, patient), by=world.therapist)


def page(session, name="detail"):
    return reverse(f"sessions:{name}", kwargs={"session_id": session.pk})


def site_form(**overrides) -> dict:
    fields = {**site_fields(), **overrides}
    return {key: str(value) for key, value in fields.items()}


def chart_form(chart, **changes) -> dict:
    fields = {name: getattr(chart, name) for name in Chart.FIELDS}
    fields.update(changes)
    return {
        "version": str(chart.version),
        **{name: "" if value is None else str(value) for name, value in fields.items()},
    }


def test_the_day_list_shows_the_clinics_sessions_with_their_patients(world, client_of):
    first = booked(world, hour=9)
    second = booked(world, hour=11)
    day = tomorrow_at(9, clinic=world.kelowna).date().isoformat()

    response = client_of(world.therapist).get(reverse("sessions:day"), {"date": day})

    assert response.status_code == 200
    text = response.content.decode()
    assert first.patient.full_name in text and second.patient.full_name in text
    assert text.index(first.patient.full_name) < text.index(second.patient.full_name)
    assert page(first) in text


def test_the_day_list_costs_the_same_queries_for_one_session_or_many(
    world, client_of, django_assert_max_num_queries
):
    booked(world, hour=9)
    client = client_of(world.front_desk)
    day = tomorrow_at(9, clinic=world.kelowna).date().isoformat()
    # 12 for the page, 6 for the readiness marks (screening, consent, alerts...).
    with django_assert_max_num_queries(18) as one:
        client.get(reverse("sessions:day"), {"date": day})
    for hour in (10, 11, 12, 13):
        booked(world, hour=hour)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("sessions:day"), {"date": day})
    assert response.content.decode().count("Open the session of") == 5


def test_booking_from_the_page_refuses_a_double_booking_naming_the_clash(world, client_of):
    first = booked(world, hour=10)
    other = ready_patient(world)
    client = client_of(world.front_desk)
    form = {
        "patient": str(other.pk),
        "therapist": str(world.therapist.pk),
        "day": tomorrow_at(10, clinic=world.kelowna).date().isoformat(),
        "time": "10:15",
        "length_minutes": "30",
    }

    response = client.post(reverse("sessions:book"), form)

    assert response.status_code == 200
    assert "already has a session 10:00 to 10:30" in response.content.decode()
    assert TreatmentSession.objects.filter(patient=other).count() == 0

    form["time"] = "10:30"
    response = client.post(reverse("sessions:book"), form)
    session = TreatmentSession.objects.get(patient=other)
    assert response.status_code == 302 and response["Location"] == page(session)
    assert first.ends_at == session.starts_at


def test_the_start_page_asks_the_reason_for_a_relative_contraindication(world, client_of):
    session = booked(world, ready_patient(world, "blood_thinners"))
    client = client_of(world.therapist)

    shown = client.get(page(session)).content.decode()
    assert "Your reason to proceed" in shown

    refused = client.post(page(session, "start"), {"override_reason": ""})
    assert refused.status_code == 400
    assert "Record your reason to proceed" in refused.content.decode()
    session.refresh_from_db()
    assert session.status == Status.BOOKED

    client.post(page(session, "start"), {"override_reason": "Light pressure, few needles"})
    chart_page = client.get(page(session)).content.decode()
    assert "Light pressure, few needles" in chart_page
    assert 'id="chart-form"' in chart_page


def test_the_front_desk_sees_the_booking_but_never_the_chart(world, client_of):
    record = chart_and_sign(started(world), therapist=world.therapist, admin=world.org_admin)

    text = client_of(world.front_desk).get(page(record.session)).content.decode()

    assert "read by clinical staff only" in text
    assert record.chart.complaint not in text
    assert record.needle_site.lot_number not in text
    assert record.addendum.text not in text
    assert not RecordRead.objects.filter(reader=world.front_desk, part=RecordPart.CHART).exists()


def test_reading_a_chart_is_written_to_the_access_log(world, client_of):
    session = started(world)

    client_of(world.manager).get(page(session))

    read = RecordRead.objects.get(reader=world.manager, part=RecordPart.CHART)
    assert read.patient_id == session.patient_id and read.item_id == session.pk


def test_a_point_on_the_body_chart_chooses_the_muscle_and_side(world, client_of):
    session = started(world)
    client = client_of(world.therapist)

    text = client.get(page(session), {"muscle": SAFE_MUSCLE, "side": "right"}).content.decode()

    assert f'href="?muscle={SAFE_MUSCLE}&amp;side=right#site-form"' in text
    assert re.search(rf'<option value="{SAFE_MUSCLE}" selected>', text)
    assert re.search(r'type="radio" name="side" value="right"[^>]*checked', text)


def test_a_risky_site_without_the_acknowledgement_is_refused_and_kept_in_the_form(world, client_of):
    session = started(world)
    client = client_of(world.therapist)

    response = client.post(
        page(session, "add_needle_site"), site_form(muscle=RISK_MUSCLE, lot_number="LOT-77")
    )

    assert response.status_code == 400
    text = response.content.decode()
    assert "pneumothorax risk" in text and "Acknowledge the risk" in text
    assert 'value="LOT-77"' in text
    assert not NeedleSite.objects.filter(session=session).exists()

    client.post(
        page(session, "add_needle_site"),
        site_form(muscle=RISK_MUSCLE, lot_number="LOT-77", risk_acknowledged="on"),
    )
    site = NeedleSite.objects.get(session=session)
    assert site.risk_acknowledged_by == world.therapist


def test_a_double_click_on_add_needle_site_adds_one_site(world, client_of):
    session = started(world)
    client = client_of(world.therapist)
    form = site_form(key="8a7d5c4e-0b4f-4b8e-9a0e-1f2d3c4b5a69")

    client.post(page(session, "add_needle_site"), form)
    client.post(page(session, "add_needle_site"), form)

    assert NeedleSite.objects.filter(session=session).count() == 1


def test_autosave_answers_the_new_version_and_a_stale_save_gets_what_changed(world, client_of):
    session = started(world)
    chart = session.chart
    therapist, manager = client_of(world.therapist), client_of(world.manager)
    json = {"HTTP_ACCEPT": "application/json"}

    saved = therapist.post(
        page(session, "save_chart"), chart_form(chart, complaint="Neck pain"), **json
    )
    assert saved.status_code == 200 and saved.json()["version"] == 2

    stale = manager.post(
        page(session, "save_chart"), chart_form(chart, assessment="Trigger points"), **json
    )

    assert stale.status_code == 409
    answer = stale.json()
    assert answer["changed"] == {"Presenting complaint": "Neck pain"}
    assert answer["saved_by"] == world.therapist.get_full_name()
    chart.refresh_from_db()
    assert (chart.complaint, chart.assessment, chart.version) == ("Neck pain", "", 2)


def test_signing_from_the_page_is_refused_until_the_needles_are_counted(world, client_of):
    session = started(world)
    client = client_of(world.therapist)
    client.post(page(session, "add_needle_site"), site_form(needles=3))
    chart = Chart.objects.get(session=session)
    client.post(page(session, "save_chart"), chart_form(chart, needles_inserted=3))

    chart.refresh_from_db()
    refused = client.post(page(session, "sign"), {"sign-version": str(chart.version)})

    assert refused.status_code == 400
    assert "Needles removed: 3 needles inserted, 0 removed" in refused.content.decode()
    client.post(page(session, "save_chart"), chart_form(chart, needles_removed=3))
    chart.refresh_from_db()
    signed = client.post(page(session, "sign"), {"sign-version": str(chart.version)})
    assert signed.status_code == 302
    session.refresh_from_db()
    assert session.status == Status.SIGNED


def test_signing_what_the_signer_has_not_seen_is_refused(world, client_of):
    session = started(world)
    opened_at = Chart.objects.get(session=session).version
    services.add_adverse_event(
        session=session, by=world.manager, kind="bruising", severity="mild", action_taken="Ice"
    )

    refused = client_of(world.therapist).post(
        page(session, "sign"), {"sign-version": str(opened_at)}
    )

    assert refused.status_code == 409
    assert "needle sites, measurements or adverse events" in refused.content.decode()
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_a_conflicting_save_is_shown_again_at_the_new_version_with_their_text(world, client_of):
    session = started(world)
    chart = Chart.objects.get(session=session)
    services.save_chart(
        session=session, by=world.manager, expected_version=chart.version, findings="Taut band"
    )

    refused = client_of(world.therapist).post(
        page(session, "save_chart"), chart_form(chart, findings="Tender point")
    )

    assert refused.status_code == 409
    text = refused.content.decode()
    assert "Taut band" in text and "Tender point" in text
    assert f'name="version" value="{chart.version + 1}"' in text
    again = client_of(world.therapist).post(
        page(session, "save_chart"),
        {**chart_form(chart, findings="Taut band; tender point"), "version": chart.version + 1},
    )
    assert again.status_code == 302
    assert Chart.objects.get(session=session).findings == "Taut band; tender point"


def test_a_signed_chart_shows_no_form_and_takes_addenda_in_order(world, client_of):
    record = chart_and_sign(started(world), therapist=world.therapist, admin=world.org_admin)
    session = record.session
    client = client_of(world.therapist)

    text = client.get(page(session)).content.decode()
    assert 'id="chart-form"' not in text and "Add needle site" not in text
    assert "Signed by" in text and record.chart.complaint in text

    edited = client.post(
        page(session, "save_chart"), chart_form(record.chart, complaint="Changed later")
    )
    assert edited.status_code == 409
    assert "Add an addendum instead" in edited.content.decode()

    client.post(page(session, "add_addendum"), {"text": "Called: soreness settled."})
    text = client.get(page(session)).content.decode()
    assert text.index(record.addendum.text) < text.index("Called: soreness settled.")
    record.chart.refresh_from_db()
    assert record.chart.complaint == "Tension headaches since the new job"


def test_the_patient_page_draws_pain_before_and_after_across_sessions(world, client_of):
    patient = ready_patient(world)
    for day, (before, after) in enumerate([(7, 4), (5, 2)]):
        session = started(world, patient, hour=8 + day)
        chart = services.save_chart(
            session=session,
            by=world.therapist,
            expected_version=1,
            pain_before=before,
            pain_after=after,
        )
        assert chart.version == 2
        services.sign_session(session=session, by=world.therapist)

    text = (
        client_of(world.therapist)
        .get(reverse("patients:detail", kwargs={"patient_id": patient.pk}))
        .content.decode()
    )

    assert '<polyline class="before"' in text and '<polyline class="after"' in text
    assert text.count("pain before") == 2 and "pain after 2/10" in text
    front_desk_view = client_of(world.front_desk).get(
        reverse("patients:detail", kwargs={"patient_id": patient.pk})
    )
    assert "<polyline" not in front_desk_view.content.decode()
    assert 'id="sessions-heading"' in front_desk_view.content.decode()  # the panel, not the nav


def test_the_recall_lists_every_patient_needled_with_a_lot(world, client_of):
    first, second = started(world, hour=8), started(world, hour=9)
    for session in (first, second):
        services.add_needle_site(
            session=session, by=world.therapist, **site_fields(lot_number="rc-1")
        )
    services.add_needle_site(session=started(world, hour=10), by=world.therapist, **site_fields())

    text = (
        client_of(world.manager).get(reverse("sessions:recall"), {"lot": " RC-1 "}).content.decode()
    )

    assert "2 patients" in text
    assert first.patient.full_name in text and second.patient.full_name in text


def test_organisation_admins_review_a_suspected_pneumothorax_from_their_list(world, client_of):
    record = chart_and_sign(started(world), therapist=world.therapist, admin=world.org_admin)
    event = services.add_adverse_event(
        session=started(world, hour=14),
        by=world.therapist,
        kind="pneumothorax",
        severity="severe",
        action_taken="Called an ambulance",
    )
    assert record.review is not None
    admin = client_of(world.org_admin)

    listed = admin.get(reverse("sessions:reviews")).content.decode()
    assert "Called an ambulance" in listed

    admin.post(
        reverse("sessions:review", kwargs={"event_id": event.pk}),
        {f"{event.pk}-note": "Discussed depth over the thorax."},
    )
    assert AdverseEvent.objects.get(pk=event.pk).review.note == "Discussed depth over the thorax."
    assert client_of(world.therapist).get(reverse("sessions:reviews")).status_code == 403


@pytest.mark.parametrize("name", ["day", "recall", "reviews"])
def test_a_patients_login_finds_no_session_pages(world, patient, client_of, name):
    assert client_of(patient.user).get(reverse(f"sessions:{name}")).status_code == 404


def test_the_session_page_shows_times_on_the_clinics_clock(world, client_of):
    session = booked(world, hour=9, minute=30)
    expected = timezone.localtime(session.starts_at, world.kelowna.zone)
    assert expected.time() == datetime.time(9, 30)
    text = client_of(world.therapist).get(page(session)).content.decode()
    assert "09:30" in text


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [param for param in uuid_patterns() if param.values[0].startswith("sessions:")],
)
def test_the_front_desk_changes_and_reads_nothing_of_a_chart_through_any_form(
    world, client_of, name, kwargs
):
    record = world.kelowna_record()
    before = organisation_rows(world.organization)

    response = client_of(world.front_desk).post(page_url(name, kwargs, record), ATTEMPT)

    # Refused (403, 404, 405, 409), or sent back as invalid (400) or to the page (302).
    assert response.status_code in (302, 400, 403, 404, 405, 409), response.status_code
    leaked = [answer for answer in record.clinical_answers() if answer in html(response)]
    assert not leaked
    assert organisation_rows(world.organization) == before


def test_the_chart_page_costs_the_same_queries_for_one_site_or_many(
    world, client_of, django_assert_max_num_queries
):
    session = started(world)
    services.add_needle_site(session=session, by=world.therapist, **site_fields())
    client = client_of(world.therapist)
    with django_assert_max_num_queries(60) as one:
        client.get(page(session))
    for muscle in ("gluteus-maximus", "piriformis", "soleus", "vastus-lateralis"):
        services.add_needle_site(session=session, by=world.therapist, **site_fields(muscle=muscle))
    services.add_adverse_event(
        session=session, by=world.therapist, kind="bruising", severity="mild", action_taken="Ice"
    )
    # One more, once: the reviews of adverse events are fetched when there are events.
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        response = client.get(page(session))
    assert response.content.decode().count('aria-label="Remove') == 6


def test_the_page_of_a_session_of_another_day_says_so_and_offers_no_start(world, client_of):
    vancouver = zoneinfo.ZoneInfo("America/Vancouver")
    monday = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=vancouver)
    sentence = "This session is booked for Tuesday 8 December: it can be started on that day only."
    with time_machine.travel(monday):
        session = services.book_session(
            clinic=world.kelowna,
            therapist=world.therapist,
            patient=ready_patient(world),
            starts_at=monday + datetime.timedelta(days=1),
            by=world.front_desk,
        )
        for person in (world.therapist, world.front_desk):
            text = client_of(person).get(page(session)).content.decode()
            assert sentence in text, person
            assert page(session, "start") not in text and "Start the session" not in text
            assert "starts this session when the patient is here" not in text
        refused = client_of(world.therapist).post(page(session, "start"), {})
        assert refused.status_code == 400
        assert sentence in refused.content.decode()
        session.refresh_from_db()
        assert session.status == Status.BOOKED
    with time_machine.travel(monday + datetime.timedelta(hours=22)):  # Tuesday 08:00
        text = client_of(world.therapist).get(page(session)).content.decode()
        assert "Start the session" in text and sentence not in text
        started = client_of(world.therapist).post(page(session, "start"), {})
        assert started.status_code == 302
        session.refresh_from_db()
        assert session.status == Status.IN_PROGRESS


def test_the_needling_end_is_typed_on_the_clinics_clock_and_shown_on_the_chart(world, client_of):
    ten = day_at(0, 10, clinic=world.kelowna)
    day = f"{ten:%Y-%m-%d}"
    with time_machine.travel(ten, tick=False):
        session = started(world)
    json = {"HTTP_ACCEPT": "application/json"}
    with time_machine.travel(ten + datetime.timedelta(minutes=40), tick=False):
        client = client_of(world.therapist)
        editor = client.get(page(session)).content.decode()
        assert 'type="datetime-local" name="needling_ended_at"' in editor
        assert "Started at 10:00" in editor
        chart = Chart.objects.get(session=session)
        future = client.post(
            page(session, "save_chart"), chart_form(chart, needling_ended_at=f"{day}T10:45"), **json
        )
        assert future.status_code == 400
        assert future.json()["field"] == "needling_ended_at"
        assert "Record the end once it has happened" in future.json()["detail"]
        saved = client.post(
            page(session, "save_chart"), chart_form(chart, needling_ended_at=f"{day}T10:25")
        )
        assert saved.status_code == 302
        chart.refresh_from_db()
        assert chart.needling_ended_at == ten + datetime.timedelta(minutes=25)
        editor = client.get(page(session)).content.decode()
        assert f'value="{day}T10:25"' in editor  # on the clinic's clock, as typed
        assert f'"needling_ended_at": "{day}T10:25"' in editor  # what the script compares with
        client.post(page(session, "sign"), {"sign-version": str(chart.version)})
        read = client_of(world.manager).get(page(session)).content.decode()
    session.refresh_from_db()
    assert session.status == Status.SIGNED
    assert re.search(r"<dt>Needling ended</dt><dd>[^<]*10:25</dd>", read)
