"""The demo week: signed charts at both sites, today's list, a recall and a review to do."""

import datetime

from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from clinics.models import Clinic
from patients.models import Patient
from sessions import selectors, services
from sessions.demo import DEMO, HARBOURSIDE, RECALLED_LOT
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    Chart,
    ChartTemplate,
    ContraindicationOverride,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    Status,
    TreatmentSession,
    WorkingHours,
)

ROWS = (
    TreatmentSession,
    ContraindicationOverride,
    Chart,
    NeedleSite,
    RangeOfMotion,
    PressurePainThreshold,
    AdverseEvent,
    AdverseEventReview,
    Addendum,
    ChartTemplate,
    OrganizationMuscle,
    WorkingHours,
    Patient,
    User,
)


def person(email: str) -> User:
    return User.objects.get(email=email)


def clinic(name: str) -> Clinic:
    return Clinic.objects.get(name=name)


def patient(first_name: str) -> Patient:
    return Patient.objects.get(first_name=first_name)


def today_at(site: Clinic):
    return timezone.localdate(timezone=site.zone)


def test_loading_the_demo_twice_adds_no_session_chart_row_or_history(demo):
    def counts():
        rows = {model: model.objects.count() for model in ROWS}
        rows["session history"] = TreatmentSession.pgh_event_model.objects.count()
        return rows

    first = counts()
    call_command("demo_data")
    assert counts() == first
    assert first[TreatmentSession] > 20


def test_both_demo_sites_have_signed_charted_sessions_in_the_past(demo):
    now = timezone.now()
    for name in ("Kelowna", "Toronto"):
        signed = TreatmentSession.objects.filter(clinic__name=name, status=Status.SIGNED)
        assert signed.count() >= 4, name
        for session in signed.select_related("chart"):
            assert session.ends_at < now
            # Charted on its day, signed when the demo was loaded.
            assert session.starts_at < session.started_at < session.ends_at
            for site in session.needle_sites.all():
                assert session.starts_at < site.recorded_at < session.ends_at
            chart = session.chart
            assert chart.pain_before > chart.pain_after
            assert chart.needles_inserted == chart.needles_removed > 0
            assert chart.needles_inserted == sum(s.needles for s in session.needle_sites.all())
    assert TreatmentSession.objects.filter(
        organization__name=HARBOURSIDE, status=Status.SIGNED
    ).exists()


def test_pain_falls_over_a_patients_sessions(demo):
    progress = selectors.pain_progress(person("therapist@demo.fascia.test"), patient("Emma"))
    # Her three of the week, and yesterday's that aftercare.demo adds.
    assert [point.pain_before for point in progress] == [7, 5, 4, 3]
    assert [point.pain_after for point in progress] == [5, 3, 2, 1]


def test_the_patient_on_blood_thinners_was_needled_with_a_recorded_reason(demo):
    walter = TreatmentSession.objects.filter(patient=patient("Walter"), status=Status.SIGNED)
    assert walter.count() == 3
    assert all(session.override.contraindications == ["blood_thinners"] for session in walter)
    bruise = AdverseEvent.objects.get(session__patient=patient("Walter"))
    assert (bruise.kind, bruise.needs_review) == ("bruising", False)
    assert Addendum.objects.filter(session__patient=patient("Emma")).count() == 1


def test_a_suspected_pneumothorax_awaits_an_org_admins_review(demo):
    olivia = person("admin@demo.fascia.test")
    [event] = selectors.adverse_events_to_review(olivia)
    assert event.kind == "pneumothorax"
    assert event.session.clinic.name == "Toronto"
    assert event.session.status == Status.SIGNED
    review = services.review_adverse_event(event=event, by=olivia, note="X-ray clear.")
    assert review.reviewed_by == olivia
    assert list(selectors.adverse_events_to_review(olivia)) == []


def test_today_has_sessions_done_under_way_and_to_come_at_both_sites(demo):
    desk = person("frontdesk@demo.fascia.test")
    kelowna = clinic("Kelowna")
    today = selectors.sessions_on(desk, clinic=kelowna, day=today_at(kelowna))
    assert today.exists()
    [in_progress] = TreatmentSession.objects.filter(status=Status.IN_PROGRESS)
    assert in_progress.clinic == kelowna
    assert in_progress.starts_at <= timezone.now()
    draft = in_progress.chart
    assert draft.subjective_notes and draft.pain_after is None
    assert draft.needles_inserted == 1 and draft.needles_removed == 0
    manager = person("manager@demo.fascia.test")
    toronto = clinic("Toronto")
    assert selectors.sessions_on(manager, clinic=toronto, day=today_at(toronto)).exists()
    booked = TreatmentSession.objects.filter(status=Status.BOOKED)
    assert booked.filter(starts_at__lt=timezone.now()).exists()  # waiting to be started
    assert booked.filter(starts_at__gt=timezone.now()).count() >= 5
    assert TreatmentSession.objects.filter(status=Status.CANCELLED).get().cancellation_reason
    # Lily, 9, cannot be needled: she is booked for manual therapy instead.
    without = TreatmentSession.objects.get(needling=False)
    assert (without.patient.first_name, without.status) == ("Lily", Status.BOOKED)
    assert TreatmentSession.objects.filter(status=Status.NO_SHOW).get().patient.first_name == "Noah"


def test_a_recalled_lot_reaches_several_patients_of_the_organisation_only(demo):
    olivia = person("admin@demo.fascia.test")
    recalled = selectors.needled_with_lot(olivia, RECALLED_LOT.lower())
    patients = recalled.values("session__patient").annotate(sites=Count("id"))
    assert len(patients) >= 4
    assert {site.session.clinic.name for site in recalled} == {"Kelowna", "Toronto"}
    assert {site.organization.name for site in recalled} == {DEMO}
    grace = person("admin@harbourside.fascia.test")
    harbourside = selectors.needled_with_lot(grace, RECALLED_LOT)
    assert {site.session.patient.first_name for site in harbourside} == {"Aidan"}


def test_the_demo_gives_the_organisation_chart_templates_and_a_muscle_of_its_own(demo):
    organization = clinic("Kelowna").organization
    assert set(
        ChartTemplate.objects.filter(organization=organization).values_list("name", flat=True)
    ) == {"Neck and shoulder", "Low back"}
    muscle = OrganizationMuscle.objects.get(organization=organization)
    assert NeedleSite.objects.filter(organization_muscle=muscle).exists()


def test_each_sites_therapist_works_weekdays_with_lunch_and_the_calendar_offers_it(demo, client):
    kelowna = clinic("Kelowna")
    therapist = person("therapist@demo.fascia.test")
    monday = [
        (hours.starts.isoformat("minutes"), hours.ends.isoformat("minutes"))
        for hours in WorkingHours.objects.filter(clinic=kelowna, therapist=therapist, weekday=0)
    ]
    assert sorted(monday) == [("08:00", "12:30"), ("13:00", "18:00")]
    assert WorkingHours.objects.filter(weekday=6).count() == 0
    client.force_login(person("frontdesk@demo.fascia.test"))
    later = today_at(kelowna) + datetime.timedelta(days=21)  # no demo booking yet
    week = client.get("/sessions/calendar/week/", {"date": later.isoformat()})
    assert "Free 13:00\N{EN DASH}18:00" in week.content.decode()


def test_walters_session_today_waits_for_his_urgent_alert(demo):
    """The demo shows the gate: Walter's chest pain alert, open, stops today's start."""
    walter_today = TreatmentSession.objects.get(
        patient__first_name="Walter", status=Status.BOOKED, starts_at__lt=timezone.now()
    )
    [refusal] = services.start_refusals(walter_today)
    assert refusal.text.startswith("An urgent alert from the 24 h check-in")
    assert walter_today.therapist == person("therapist@demo.fascia.test")
