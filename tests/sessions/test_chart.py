"""Charting a session: the draft's notes, its rows, adverse events, and the reads of charts."""

import datetime
import threading
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from sessions import clock, selectors, services
from sessions.exceptions import (
    ChartConflict,
    ChartInvalid,
    Conflict,
    NotPermitted,
    RiskNotAcknowledged,
    SessionSigned,
    SessionStateRefused,
)
from sessions.models import (
    AdverseEventReview,
    Chart,
    ChartEvent,
    ChartTemplate,
    NeedleSite,
    Status,
)
from tests.patients.factories import PatientFactory, day_at, tomorrow_at
from tests.sessions.factories import (
    RISK_MUSCLE,
    SAFE_MUSCLE,
    ready_to_needle,
    site_fields,
    started_session,
)


@pytest.fixture
def session(world):
    """Ann Lee's session with Priya at Kelowna, booked for now and started: an empty draft."""
    ann = PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")
    ready_to_needle(ann, by=world.therapist)
    return started_session(patient=ann, therapist=world.therapist)


def save(session, by, version=1, **fields):
    return services.save_chart(session=session, by=by, expected_version=version, **fields)


def add_site(session, by, **overrides):
    return services.add_needle_site(session=session, by=by, **site_fields(**overrides))


def sign(session, by, needles=0):
    """Count the needles as the sites say, then sign."""
    chart = Chart.objects.get(session=session)
    save(session, by, chart.version, needles_inserted=needles, needles_removed=needles)
    return services.sign_session(session=session, by=by)


# The draft


def test_saving_the_chart_keeps_what_was_typed_and_bumps_the_version(world, session):
    chart = save(
        session,
        world.therapist,
        complaint="Neck pain since Monday",
        pain_before="7",  # as a form sends it
        pain_after=4,
        needles_inserted=3,
        needles_removed=3,
    )
    assert chart.version == 2
    stored = Chart.objects.get(session=session)
    assert (stored.complaint, stored.pain_before, stored.pain_after) == (
        "Neck pain since Monday",
        7,
        4,
    )
    assert (stored.needles_inserted, stored.needles_removed) == (3, 3)
    assert (stored.version, stored.updated_by) == (2, world.therapist)
    assert save(session, world.therapist, 2, plan="Review in a week").version == 3


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("pain_before", 11, "pain is scored 0 (none) to 10 (worst imaginable) (11 given)"),
        ("pain_after", -1, "pain is scored 0 (none) to 10 (worst imaginable) (-1 given)"),
        ("pain_before", "abc", "pain is scored 0 (none) to 10 (worst imaginable)"),
        ("pain_after", True, "pain is scored 0 (none) to 10 (worst imaginable)"),
        ("needles_inserted", 501, "a whole number of needles, 0 to 500 (501 given)"),
        ("needles_removed", "2.5", "a whole number of needles, 0 to 500"),
        ("complaint", 5, "give text"),
        ("complaint", "x" * 20_001, "at most 20,000 characters (20,001 given)"),
        ("diagnosis", "Whiplash", "not a field of the chart"),
    ],
)
def test_a_value_the_chart_does_not_take_is_refused_naming_field_and_rule(
    world, session, field, value, rule
):
    with pytest.raises(ChartInvalid) as refused:
        save(session, world.therapist, plan="Review in a week", **{field: value})
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: {rule}")
    assert Chart.objects.get(session=session).version == 1  # nothing of it saved


def test_a_save_from_a_stale_version_is_refused_naming_what_changed_and_who(world, session):
    save(session, world.therapist, complaint="Neck pain since Monday", pain_before=6)
    with pytest.raises(ChartConflict) as conflict:
        save(session, world.manager, 1, complaint="Headache", plan="Heat")
    assert conflict.value.changed == {"complaint": "Neck pain since Monday", "pain_before": 6}
    assert conflict.value.saved_by == world.therapist.get_full_name()
    assert conflict.value.version == 2
    assert "presenting complaint, pain before (0 to 10)" in conflict.value.message
    chart = Chart.objects.get(session=session)
    assert (chart.complaint, chart.plan, chart.version) == ("Neck pain since Monday", "", 2)


def test_the_same_save_retried_from_its_old_version_is_accepted_once(world, session):
    first = save(session, world.therapist, complaint="Neck pain", pain_before=6)
    events = ChartEvent.objects.filter(pgh_obj_id=first.pk).count()
    again = save(session, world.therapist, 1, complaint="Neck pain", pain_before=6)
    assert again.version == 2
    assert ChartEvent.objects.filter(pgh_obj_id=first.pk).count() == events


def test_only_a_started_session_is_charted(world, session):
    patient = session.patient
    booked = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=patient,
        starts_at=tomorrow_at(14, clinic=world.kelowna),
        by=world.front_desk,
    )
    with pytest.raises(SessionStateRefused, match="booked has no chart to write") as refused:
        save(booked, world.therapist, complaint="Early notes")
    assert refused.type is SessionStateRefused
    services.cancel_session(session=booked, by=world.front_desk, reason="Flu")
    with pytest.raises(SessionStateRefused, match="cancelled has no chart to write"):
        save(booked, world.therapist, complaint="Early notes")
    assert not Chart.objects.filter(session=booked).exists()


@pytest.mark.parametrize("outsider", ["front_desk", "vernon_therapist", "other_therapist"])
def test_only_clinical_staff_of_the_clinic_chart(world, session, outsider):
    with pytest.raises(NotPermitted):
        save(session, getattr(world, outsider), complaint="Not mine to write")
    with pytest.raises(NotPermitted):
        add_site(session, getattr(world, outsider))
    assert Chart.objects.get(session=session).complaint == ""
    assert not NeedleSite.objects.exists()


def test_the_clinic_manager_may_chart_a_colleagues_session(world, session):
    assert save(session, world.manager, complaint="Seen with Priya").updated_by == world.manager


# Templates


def template_of(organization, **text):
    return ChartTemplate.objects.create(organization=organization, name="Neck and shoulder", **text)


def test_a_template_fills_only_the_empty_text_never_what_was_typed(world, session):
    save(session, world.therapist, complaint="Neck pain since Monday", findings="   ")
    template = template_of(
        world.organization,
        complaint="Template complaint",
        findings="Taut band, upper trapezius",
        assessment="Myofascial pain",
    )
    chart = services.apply_template(
        session=session, by=world.therapist, template=template, expected_version=2
    )
    stored = Chart.objects.get(session=session)
    assert stored.complaint == "Neck pain since Monday"
    assert (stored.findings, stored.assessment) == ("Taut band, upper trapezius", "Myofascial pain")
    assert (stored.plan, stored.template, chart.version) == ("", template, 3)


def test_another_organisations_template_is_refused(world, session):
    theirs = template_of(world.other_organization, assessment="Harbourside's words")
    with pytest.raises(ChartInvalid) as refused:
        services.apply_template(
            session=session, by=world.therapist, template=theirs, expected_version=1
        )
    assert refused.value.field == "template"
    chart = Chart.objects.get(session=session)
    assert (chart.assessment, chart.template, chart.version) == ("", None, 1)


# Needle sites


def test_a_needle_site_is_charted_with_its_needles_and_lot(world, session):
    site = add_site(session, world.therapist, lot_number=" lot-7a ", needles="3")
    stored = NeedleSite.objects.get(pk=site.pk)
    assert (stored.muscle.code, stored.organization_muscle) == (SAFE_MUSCLE, None)
    assert (stored.needles, stored.lot_number) == (3, "LOT-7A")
    assert (stored.recorded_by, stored.organization, stored.pneumothorax_risk) == (
        world.therapist,
        world.organization,
        False,
    )


def test_a_muscle_outside_the_vocabulary_is_refused(world, session):
    with pytest.raises(ChartInvalid) as refused:
        add_site(session, world.therapist, muscle="biceps-of-the-neck")
    assert refused.value.field == "muscle"
    assert "'biceps-of-the-neck' is not in the muscle vocabulary" in refused.value.message
    assert not NeedleSite.objects.exists()


def test_an_organisations_own_muscle_is_charted_and_no_other_organisations(world, session):
    ours = services.add_muscle(
        organization=world.organization,
        by=world.org_admin,
        name="Levator costae brevis",
        region="upper_back",
        pneumothorax_risk=False,
    )
    theirs = services.add_muscle(
        organization=world.other_organization,
        by=world.other_admin,
        name="Sternalis accessorius",
        region="chest",
        pneumothorax_risk=False,
    )
    site = add_site(session, world.therapist, muscle=ours.code)
    assert (site.muscle, site.organization_muscle) == (None, ours)
    with pytest.raises(ChartInvalid) as refused:
        add_site(session, world.therapist, muscle=theirs.code)
    assert refused.value.field == "muscle"
    assert list(NeedleSite.objects.all()) == [site]


def test_a_needle_goes_no_deeper_than_its_length(world, session):
    with pytest.raises(ChartInvalid) as refused:
        add_site(session, world.therapist, needle_length_mm=30, depth_mm="40")
    assert refused.value.field == "depth_mm"
    assert "40 mm deep with a 30 mm needle" in refused.value.message
    assert add_site(session, world.therapist, needle_length_mm=30, depth_mm="30").depth_mm == 30


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("needle_gauge_mm", "0.10", "the gauge is the needle's diameter, 0.12 to 0.50 mm"),
        ("needle_gauge_mm", "0.55", "the gauge is the needle's diameter, 0.12 to 0.50 mm"),
        ("needle_gauge_mm", "0.305", "at most 2 decimal places"),
        ("needle_gauge_mm", "thin", "the gauge is the needle's diameter, 0.12 to 0.50 mm"),
        ("needle_length_mm", 6, "a needle is 7 to 150 mm long"),
        ("needle_length_mm", 151, "a needle is 7 to 150 mm long"),
        ("needles", 0, "1 to 50 needles at one site"),
        ("needles", 51, "1 to 50 needles at one site"),
        ("retention_minutes", 61, "retention is 0 to 60 minutes"),
        ("retention_minutes", -1, "retention is 0 to 60 minutes"),
        ("depth_mm", "0.4", "depth is 0.5 to 150 mm"),
        ("side", "middle", "choose one of left, right, both"),
        ("lot_number", "   ", "record the needle lot number"),
    ],
)
def test_a_needle_site_out_of_range_is_refused_naming_the_field(world, session, field, value, rule):
    with pytest.raises(ChartInvalid) as refused:
        add_site(session, world.therapist, **{field: value})
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: {rule}")
    assert not NeedleSite.objects.exists()


def test_a_site_over_the_lung_is_charted_only_with_the_risk_acknowledged(world, session):
    with pytest.raises(RiskNotAcknowledged) as refused:
        add_site(session, world.therapist, muscle=RISK_MUSCLE)
    assert refused.value.field == "risk_acknowledged"
    assert "upper trapezius can reach the pleura" in refused.value.message
    assert not NeedleSite.objects.exists()
    before = timezone.now()
    site = add_site(session, world.therapist, muscle=RISK_MUSCLE, risk_acknowledged=True)
    stored = NeedleSite.objects.get(pk=site.pk)
    assert stored.pneumothorax_risk
    assert stored.risk_acknowledged_by == world.therapist
    assert before <= stored.risk_acknowledged_at <= timezone.now()


def test_an_added_muscle_marked_risky_needs_the_acknowledgement_too(world, session):
    risky = services.add_muscle(
        organization=world.organization,
        by=world.org_admin,
        name="Intercostal accessory",
        region="chest",
        pneumothorax_risk=True,
    )
    with pytest.raises(RiskNotAcknowledged):
        add_site(session, world.therapist, muscle=risky.code)
    assert add_site(session, world.therapist, muscle=risky.code, risk_acknowledged=True)


def test_a_safe_site_keeps_no_acknowledgement_even_if_ticked(world, session):
    site = add_site(session, world.therapist, risk_acknowledged=True)
    assert (site.pneumothorax_risk, site.risk_acknowledged_at, site.risk_acknowledged_by) == (
        False,
        None,
        None,
    )


def test_the_same_needle_site_sent_twice_is_one_row(world, session):
    key = uuid.uuid4()
    first = add_site(session, world.therapist, submission_key=key)
    again = add_site(session, world.therapist, submission_key=key)
    assert again.pk == first.pk
    assert NeedleSite.objects.count() == 1


def test_a_submission_key_used_for_another_session_is_refused(world, session):
    key = uuid.uuid4()
    add_site(session, world.therapist, submission_key=key)
    bob = ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist)
    other = started_session(
        patient=bob, therapist=world.therapist, starts_at=tomorrow_at(11, clinic=world.kelowna)
    )
    with pytest.raises(Conflict):
        add_site(other, world.therapist, submission_key=key)
    assert not NeedleSite.objects.filter(session=other).exists()


# Removing rows from a draft


def test_a_row_is_removed_from_a_draft_and_removing_it_twice_is_harmless(world, session):
    site = add_site(session, world.therapist)
    kept = add_site(session, world.therapist, muscle="piriformis")
    services.remove_chart_row(row=site, by=world.therapist)
    services.remove_chart_row(row=site, by=world.therapist)
    assert list(NeedleSite.objects.filter(session=session)) == [kept]


def test_the_front_desk_removes_no_chart_row(world, session):
    site = add_site(session, world.therapist)
    with pytest.raises(NotPermitted):
        services.remove_chart_row(row=site, by=world.front_desk)
    assert NeedleSite.objects.filter(pk=site.pk).exists()


# Adverse events


def pneumothorax(session, by):
    return services.add_adverse_event(
        session=session,
        by=by,
        kind="pneumothorax",
        severity="severe",
        action_taken="Oxygen, called 911",
    )


def test_a_suspected_pneumothorax_goes_to_the_organisation_admins(world, session):
    event = pneumothorax(session, world.therapist)
    bruise = services.add_adverse_event(
        session=session,
        by=world.therapist,
        kind="bruising",
        severity="mild",
        action_taken="Pressure for a minute",
    )
    assert (event.needs_review, bruise.needs_review) == (True, False)
    assert list(selectors.adverse_events_to_review(world.org_admin)) == [event]
    assert list(selectors.adverse_events_to_review(world.other_admin)) == []
    assert list(selectors.adverse_events_to_review(world.front_desk)) == []


def test_an_adverse_event_says_what_was_done(world, session):
    with pytest.raises(ChartInvalid) as refused:
        services.add_adverse_event(
            session=session, by=world.therapist, kind="bleeding", severity="mild", action_taken=" "
        )
    assert refused.value.field == "action_taken"


def test_only_an_organisation_admin_reviews_and_only_once(world, session):
    event = pneumothorax(session, world.therapist)
    for not_admin in (world.therapist, world.manager, world.other_admin):
        with pytest.raises(NotPermitted):
            services.review_adverse_event(event=event, by=not_admin, note="Looked at it")
    review = services.review_adverse_event(
        event=event, by=world.org_admin, note="  Chest X-ray clear; technique reviewed.  "
    )
    stored = AdverseEventReview.objects.get(adverse_event=event)
    assert stored == review
    assert (stored.note, stored.reviewed_by) == (
        "Chest X-ray clear; technique reviewed.",
        world.org_admin,
    )
    with pytest.raises(Conflict, match=world.org_admin.get_full_name()):
        services.review_adverse_event(event=event, by=world.org_admin, note="Again")
    assert AdverseEventReview.objects.count() == 1
    assert list(selectors.adverse_events_to_review(world.org_admin)) == []


def test_a_suspected_pneumothorax_stays_in_the_draft_reviewed_or_not(world, session):
    event = pneumothorax(session, world.therapist)
    with pytest.raises(Conflict, match="stays in the chart for the organisation admins' review"):
        services.remove_chart_row(row=event, by=world.therapist)
    assert event in selectors.adverse_events_to_review(world.org_admin)

    services.review_adverse_event(event=event, by=world.org_admin, note="X-ray clear")
    with pytest.raises(Conflict, match="stays in the chart"):
        services.remove_chart_row(row=event, by=world.therapist)
    assert AdverseEventReview.objects.get().adverse_event == event


def test_an_event_that_needs_no_review_gets_none(world, session):
    bruise = services.add_adverse_event(
        session=session, by=world.therapist, kind="bruising", severity="mild", action_taken="Ice"
    )
    with pytest.raises(ChartInvalid):
        services.review_adverse_event(event=bruise, by=world.org_admin, note="Fine")
    assert not AdverseEventReview.objects.exists()


# Two people on one draft at once


def race(*writers):
    """Run each writer in its own thread and database connection, all at once."""
    outcomes = [None] * len(writers)
    barrier = threading.Barrier(len(writers))

    def run(index, write):
        try:
            barrier.wait()
            outcomes[index] = write()
        except Exception as refused:  # the outcome is what the test looks at
            outcomes[index] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_saves_from_the_same_version_one_wins_the_other_hears_of_it(world, session):
    outcomes = race(
        lambda: save(session, world.therapist, complaint="Left side of the neck"),
        lambda: save(session, world.manager, complaint="Right shoulder"),
    )
    saved = [outcome for outcome in outcomes if isinstance(outcome, Chart)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, ChartConflict)]
    assert (len(saved), len(refused)) == (1, 1), outcomes
    chart = Chart.objects.get(session=session)
    assert (chart.version, chart.complaint) == (2, saved[0].complaint)
    assert refused[0].changed == {"complaint": saved[0].complaint}


@pytest.mark.django_db(transaction=True)
def test_a_save_racing_the_signature_lands_before_it_or_is_refused(world, session):
    save(session, world.therapist, complaint="Neck pain")
    outcomes = race(
        lambda: services.sign_session(session=session, by=world.therapist),
        lambda: save(session, world.manager, 2, plan="Review in a week"),
    )
    signed, saved = outcomes
    session.refresh_from_db()
    assert session.status == Status.SIGNED, outcomes
    assert (signed.pk, session.signed_by) == (session.pk, world.therapist)
    chart = Chart.objects.get(session=session)
    if isinstance(saved, Chart):  # saved, then signed
        assert (chart.plan, chart.version) == ("Review in a week", 3)
        assert chart.updated_at <= session.signed_at
    else:  # signed, and the save refused
        assert isinstance(saved, SessionSigned), outcomes
        assert (chart.plan, chart.version) == ("", 2)


# Reading charts


def test_the_front_desk_and_other_clinics_read_no_chart(world, session):
    add_site(session, world.therapist)
    assert selectors.chart_view(world.front_desk, session) is None
    assert selectors.chart_view(world.vernon_therapist, session) is None
    assert selectors.chart_view(world.other_admin, session) is None
    view = selectors.chart_view(world.therapist, session)
    assert (view.session, view.chart.session, view.needles_charted) == (session, session, 2)


def test_reading_a_chart_costs_the_same_queries_however_many_rows(world, session):
    add_site(session, world.therapist)
    services.review_adverse_event(
        event=pneumothorax(session, world.therapist), by=world.org_admin, note="Seen"
    )
    selectors.chart_view(world.therapist, session)  # the user's grants, read once
    with CaptureQueriesContext(connection) as few_rows:
        view = selectors.chart_view(world.therapist, session)
    assert len(view.needle_sites) == 1
    for muscle in ("piriformis", "gluteus-maximus", "tensor-fasciae-latae"):
        add_site(session, world.therapist, muscle=muscle, needles=1)
    add_site(session, world.therapist, muscle=RISK_MUSCLE, needles=1, risk_acknowledged=True)
    pneumothorax(session, world.therapist)
    sign(session, world.therapist, needles=6)
    for text in ("X-ray clear", "Patient called: fine"):
        services.add_addendum(session=session, by=world.therapist, text=text)
    with CaptureQueriesContext(connection) as many_rows:
        view = selectors.chart_view(world.therapist, session)
        assert view.adverse_events[0].review.reviewed_by == world.org_admin
        assert view.needle_sites[-1].muscle_entry.name == "Upper trapezius"
        assert view.needle_sites[-1].risk_acknowledged_by == world.therapist
        assert [addendum.author for addendum in view.addenda] == [world.therapist] * 2
    assert (len(view.needle_sites), len(view.adverse_events)) == (5, 2)
    assert len(many_rows) == len(few_rows) <= 10


def lot_sessions(world):
    """Needles of lot LOT-7A at Kelowna, at Vernon and at Halifax; LOT-8 at Kelowna too."""
    sessions = {}
    for name, clinic, therapist, lot in [
        ("kelowna", world.kelowna, world.therapist, "lot-7a"),
        ("kelowna, other lot", world.kelowna, world.therapist, "LOT-8"),
        ("vernon", world.vernon, world.vernon_therapist, " LOT-7A"),
        ("halifax", world.halifax, world.other_therapist, "Lot-7a"),
    ]:
        patient = ready_to_needle(PatientFactory(home_clinic=clinic), by=therapist)
        hour = 9 + len(sessions)
        sessions[name] = started_session(
            patient=patient, therapist=therapist, starts_at=tomorrow_at(hour, clinic=clinic)
        )
        add_site(sessions[name], therapist, lot_number=lot)
    return sessions


def test_a_recall_finds_every_visible_session_needled_with_the_lot(world):
    sessions = lot_sessions(world)

    def recalled(user, lot):
        return {site.session for site in selectors.needled_with_lot(user, lot)}

    assert recalled(world.org_admin, " lot-7A ") == {sessions["kelowna"], sessions["vernon"]}
    assert recalled(world.therapist, "LOT-7A") == {sessions["kelowna"]}
    assert recalled(world.other_admin, "lot-7a") == {sessions["halifax"]}
    assert recalled(world.front_desk, "LOT-7A") == set()
    assert recalled(world.org_admin, "LOT-9") == set()


def test_pain_progress_lists_signed_sessions_oldest_first(world):
    ann = ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist)
    early, late, open_ = (
        started_session(
            patient=ann,
            therapist=world.therapist,
            starts_at=tomorrow_at(hour, clinic=world.kelowna),
        )
        for hour in (9, 11, 13)
    )
    for session, before, after in [(late, 5, 2), (early, 7, 4), (open_, 3, 1)]:
        save(session, world.therapist, pain_before=before, pain_after=after)
    sign(late, world.therapist)  # signed first, but later in the day
    sign(early, world.therapist)
    progress = selectors.pain_progress(world.therapist, ann)
    assert [(p.session, p.pain_before, p.pain_after) for p in progress] == [
        (early, 7, 4),
        (late, 5, 2),
    ]
    assert {p.day for p in progress} == {tomorrow_at(9, clinic=world.kelowna).date()}
    assert selectors.pain_progress(world.front_desk, ann) == []
    assert selectors.pain_progress(world.other_admin, ann) == []


# When the needling ended: the clock aftercare counts from


@pytest.fixture
def at_ten(world):
    """Ann Lee's session, booked for 10:00 today on Kelowna's clock and started at 10:00:30;
    the clock stands at 10:40."""
    ten = day_at(0, 10, clinic=world.kelowna)
    ann = PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")
    with time_machine.travel(ten + datetime.timedelta(seconds=30), tick=False):
        ready_to_needle(ann, by=world.therapist)
        session = started_session(patient=ann, therapist=world.therapist)
    with time_machine.travel(ten + datetime.timedelta(minutes=40), tick=False):
        yield session


def test_the_needling_end_is_charted_on_the_clinics_clock_to_the_minute(world, at_ten):
    ten = timezone.localtime(at_ten.starts_at, world.kelowna.zone)
    typed = f"{ten:%Y-%m-%d}T10:25"  # as the form's date-and-time field sends it
    chart = save(at_ten, world.therapist, needling_ended_at=typed)
    assert chart.needling_ended_at == ten.replace(minute=25)
    with_offset = (ten + datetime.timedelta(minutes=26, seconds=45)).astimezone(datetime.UTC)
    chart = save(at_ten, world.therapist, chart.version, needling_ended_at=with_offset.isoformat())
    assert chart.needling_ended_at == ten.replace(minute=26)  # the seconds are not kept
    assert (
        save(at_ten, world.therapist, chart.version, needling_ended_at=None).needling_ended_at
        is None
    )
    assert clock.needling_ended_at(at_ten) is None  # not charted, not signed


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("09:59", "the needling ends after the session started, at {day}, 10:00 ({day}, 09:59 "
         "given)"),
        ("10:41", "record the end once it has happened; it is {day}, 10:40 now ({day}, 10:41 "
         "given)"),
    ],
)  # fmt: skip
def test_a_needling_end_before_the_start_or_still_to_come_is_refused(world, at_ten, typed, rule):
    ten = timezone.localtime(at_ten.starts_at, world.kelowna.zone)
    with pytest.raises(ChartInvalid) as refused:
        save(at_ten, world.therapist, needling_ended_at=f"{ten:%Y-%m-%d}T{typed}")
    day = dateformat.format(ten, "j F Y")
    assert refused.value.field == "needling_ended_at"
    assert refused.value.message == f"needling_ended_at: {rule.format(day=day)}."
    with pytest.raises(ChartInvalid, match="needling_ended_at: give a date and time"):
        save(at_ten, world.therapist, needling_ended_at="soon")
    assert Chart.objects.get(session=at_ten).version == 1
    # The start's own minute is not before it.
    assert save(at_ten, world.therapist, needling_ended_at=f"{ten:%Y-%m-%d}T10:00").version == 2


def test_a_needling_end_saved_by_someone_else_is_named_in_the_conflict_and_kept_in_history(
    world, at_ten
):
    ten = timezone.localtime(at_ten.starts_at, world.kelowna.zone)
    chart = save(at_ten, world.therapist, needling_ended_at=f"{ten:%Y-%m-%d}T10:30")
    with pytest.raises(ChartConflict) as conflict:
        save(at_ten, world.manager, 1, needling_ended_at=f"{ten:%Y-%m-%d}T10:35")
    assert conflict.value.changed == {"needling_ended_at": ten.replace(minute=30)}
    assert "needling ended at" in conflict.value.message
    assert ChartEvent.objects.filter(
        pgh_obj_id=chart.pk, needling_ended_at=ten.replace(minute=30)
    ).exists()
