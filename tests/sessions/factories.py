"""A chart with one of everything, written through the services as a therapist would."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import time_machine
from django.utils import timezone

from clinics.models import Role
from patients import services as patient_services
from sessions import services
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    AppointmentType,
    BookingSettings,
    CalendarFeed,
    ChangeKind,
    Chart,
    ChartTemplate,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    RecallNotice,
    ScheduleChange,
    TreatmentSession,
    WorkingHours,
)
from sessions.services import feeds
from tests.clinics.factories import staff

RISK_MUSCLE = "upper-trapezius"
"""Over the lung apex: charting it needs the pneumothorax risk acknowledged."""
SAFE_MUSCLE = "gluteus-medius"


def site_fields(**overrides) -> dict:
    """What a needle-site form sends, for a site with no pneumothorax risk."""
    return {
        "muscle": SAFE_MUSCLE,
        "side": "left",
        "needles": 2,
        "needle_length_mm": 50,
        "needle_gauge_mm": Decimal("0.30"),
        "depth_mm": Decimal("35"),
        "technique": "pistoning",
        "twitch_response": "some",
        "retention_minutes": 0,
        "lot_number": "LOT-2026-A",
        **overrides,
    }


@dataclass
class ChartRecord:
    session: TreatmentSession
    chart: Chart
    needle_site: NeedleSite
    range_of_motion: RangeOfMotion
    pressure_pain_threshold: PressurePainThreshold
    adverse_event: AdverseEvent
    review: AdverseEventReview
    addendum: Addendum
    chart_template: ChartTemplate
    organization_muscle: OrganizationMuscle
    recall_notice: RecallNotice | None
    """None when the patient has no e-mail address (the recall says to call them)."""


def chart_and_sign(session: TreatmentSession, *, therapist, admin) -> ChartRecord:
    """Chart a started session fully, sign it, add an addendum, and review its adverse event."""
    organization = session.organization
    template = ChartTemplate.objects.create(
        organization=organization,
        name=f"Neck and shoulder {session.pk.hex[:6]}",
        assessment="Myofascial trigger points in the upper trapezius.",
    )
    muscle = services.add_muscle(
        organization=organization,
        by=admin,
        name=f"Obliquus capitis inferior {session.pk.hex[:6]}",
        region="head_neck",
        pneumothorax_risk=False,
    )
    chart = services.apply_template(
        session=session, by=therapist, template=template, expected_version=1
    )
    chart = services.save_chart(
        session=session,
        by=therapist,
        expected_version=chart.version,
        complaint="Tension headaches since the new job",
        pain_before=6,
        pain_after=3,
        needles_inserted=3,
        needles_removed=3,
    )
    site = services.add_needle_site(
        session=session, by=therapist, risk_acknowledged=True, **site_fields(muscle=RISK_MUSCLE)
    )
    services.add_needle_site(
        session=session, by=therapist, **site_fields(muscle=muscle.code, needles=1)
    )
    range_of_motion = services.add_range_of_motion(
        session=session,
        by=therapist,
        joint="cervical_spine",
        movement="rotation",
        side="left",
        degrees=60,
    )
    threshold = services.add_pressure_pain_threshold(
        session=session, by=therapist, site="Upper trapezius", side="right", kg_per_cm2="2.5"
    )
    event = services.add_adverse_event(
        session=session,
        by=therapist,
        kind="pneumothorax",
        severity="moderate",
        action_taken="Sent to emergency for a chest X-ray",
    )
    session = services.sign_session(session=session, by=therapist)
    addendum = services.add_addendum(
        session=session, by=therapist, text="X-ray clear: no pneumothorax."
    )
    review = services.review_adverse_event(
        event=event, by=admin, note="Technique reviewed with the therapist."
    )
    # The lot was recalled; the notice is queued (sent when the test's transaction commits).
    services.notify_recall(lot_number=site.lot_number, by=admin, patients=[session.patient_id])
    return ChartRecord(
        session=session,
        chart=Chart.objects.get(pk=chart.pk),
        needle_site=site,
        range_of_motion=range_of_motion,
        pressure_pain_threshold=threshold,
        adverse_event=event,
        review=review,
        addendum=addendum,
        chart_template=template,
        organization_muscle=muscle,
        recall_notice=RecallNotice.objects.filter(
            patient=session.patient, lot_number=site.lot_number
        ).first(),
    )


def ready_to_needle(patient, *, by, contraindications: tuple[str, ...] = ()):
    """`patient` with a fresh screening (yes to `contraindications` only) and a signed consent."""
    organization = patient.organization
    questionnaire = patient_services.current_questionnaire(organization)
    patient_services.submit_screening(
        patient=patient,
        by=by,
        answers={q: q.key in contraindications for q in questionnaire.questions.all()},
    )
    patient_services.sign_consent(
        patient=patient,
        by=by,
        template=patient_services.current_consent_template(organization),
        signer_name=patient.full_name,
    )
    return patient


def next_clock_change(zone, *, back: bool | None = None) -> datetime.date:
    """The next day, from today, on which `zone`'s clocks go forward or (`back`) back."""
    today = timezone.localdate(timezone=zone)
    for days in range(1, 400):
        day = today + datetime.timedelta(days=days)
        midnight = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
        before = midnight.utcoffset()
        after = (midnight + datetime.timedelta(days=1)).utcoffset()
        if before != after and back in (None, after < before):
            return day
    raise AssertionError(f"{zone} changes its clocks no more")


def this_minute() -> datetime.datetime:
    """Now, to the minute: a session booked for it is on today's date on every clinic's clock
    (midnight falls on a whole minute), and inside the booking's 15 minutes of grace."""
    return timezone.now().replace(second=0, microsecond=0)


def started_session(
    *, patient, therapist, starts_at: datetime.datetime | None = None, override_reason: str = ""
) -> TreatmentSession:
    """A session of a patient ready to needle, booked at their clinic and started by `therapist`.

    Booked for this minute and started at once. A session is started on its own
    day only: one booked for `starts_at` is booked and started with the clock
    moved there (to that minute, and ticking), then the clock comes back.
    """
    if starts_at is not None:
        with time_machine.travel(starts_at):
            return started_session(
                patient=patient, therapist=therapist, override_reason=override_reason
            )
    session = services.book_session(
        clinic=patient.home_clinic,
        therapist=therapist,
        patient=patient,
        starts_at=this_minute(),
        by=therapist,
    )
    return services.start_session(session=session, by=therapist, override_reason=override_reason)


@dataclass
class ScheduleRecord:
    """A clinic's calendar makings: a type, a therapist's Monday hours, their day away, and
    their calendar feed."""

    appointment_type: AppointmentType
    therapist: object
    working_hours: WorkingHours
    schedule_change: ScheduleChange
    booking_settings: BookingSettings
    calendar_feed: CalendarFeed


def schedule_at(clinic, *, admin, manager=None) -> ScheduleRecord:
    """An appointment type, booking settings, and a therapist of its own (so that no other
    test's bookings fall outside someone's hours) working Mondays 08:00-12:00 with a day away
    next month."""
    therapist = staff(Role.THERAPIST, clinic=clinic, full_name="Ines Moreau")
    appointment_type = services.create_appointment_type(
        organization=clinic.organization,
        by=admin,
        name=f"Follow-up with needling {clinic.pk.hex[:6]}",
        minutes=45,
        needling=True,
    )
    hours = services.add_working_hours(
        clinic=clinic,
        therapist=therapist,
        weekday=0,
        starts=datetime.time(8),
        ends=datetime.time(12),
        by=manager or admin,
    )
    away = tomorrow_start(clinic) + datetime.timedelta(days=30)
    change = services.add_schedule_change(
        clinic=clinic,
        kind=ChangeKind.AWAY,
        therapist=therapist,
        starts_at=away,
        ends_at=away + datetime.timedelta(days=1),
        reason="Course in Toronto",
        by=manager or admin,
    )
    booking_settings = services.save_booking_settings(
        organization=clinic.organization, by=admin, reminder_hours=48, notice_hours=12
    )
    calendar_feed, _secret = feeds.create_calendar_feed(
        organization=clinic.organization, therapist=therapist, by=therapist, name="Phone"
    )
    return ScheduleRecord(
        appointment_type=appointment_type,
        booking_settings=booking_settings,
        therapist=therapist,
        working_hours=hours,
        schedule_change=change,
        calendar_feed=calendar_feed,
    )


def tomorrow_start(clinic) -> datetime.datetime:
    """Midnight at the start of tomorrow, on the clinic's clock."""
    day = timezone.localdate(timezone=clinic.zone) + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time(), tzinfo=clinic.zone)
