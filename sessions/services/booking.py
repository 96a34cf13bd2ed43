"""Booking, cancelling, no-shows and the start gate: one transaction each."""

import datetime
import uuid

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.models import User
from clinics import access
from clinics.models import Clinic
from clinics.selectors import therapist_roles
from patients import safety
from patients.exceptions import SubmissionKeyReused
from patients.merging import merged_patient_refusal
from patients.models import Patient
from patients.selectors import ConsentState, ScreeningState, clinical_status
from sessions import availability, clock
from sessions.exceptions import (
    BookingRefused,
    DoubleBooked,
    NotPermitted,
    OutsideWorkingHours,
    SeriesRefused,
    SessionStateRefused,
    StartRefused,
)
from sessions.models import (
    HOLDS_THE_SLOT,
    AppointmentType,
    ChangeKind,
    Chart,
    ContraindicationOverride,
    Status,
    TreatmentSession,
)
from sessions.selectors import is_its_therapist
from sessions.services.reminders import plan_reminder
from sessions.services.schedule import booking_settings_of

DEFAULT_LENGTH = datetime.timedelta(minutes=30)
SHORTEST = datetime.timedelta(minutes=5)
LONGEST = datetime.timedelta(hours=4)
BOOKING_GRACE = datetime.timedelta(minutes=15)
"""How far in the past a session may still be booked: a walk-in entered a little late."""

CLASHES = {
    "session_therapist_not_double_booked": "therapist",
    "session_patient_not_double_booked": "patient",
}


@transaction.atomic
def book_session(
    *,
    clinic: Clinic,
    therapist: User,
    patient: Patient,
    starts_at: datetime.datetime,
    by,
    length: datetime.timedelta = DEFAULT_LENGTH,
    needling: bool = True,
    appointment_type: AppointmentType | None = None,
    outside_hours_reason: str = "",
    submission_key=None,
    series=None,
) -> TreatmentSession:
    """Book `patient` with `therapist` at `clinic`; refused with a message naming any clash.

    `needling` False books manual therapy, exercise or education only: anyone
    may have it, a child or a patient with an absolute contraindication too.
    An `appointment_type` gives the length and needling instead, and a needling
    type needs a therapist whose dry-needling credential is current on the day.

    A time outside the therapist's working hours at the clinic (or in a closure
    or an absence) is refused with `OutsideWorkingHours` unless a reason is given,
    kept with the booking. A therapist with no working hours recorded at the
    clinic has none to be outside of.

    The database refuses a second session that overlaps the therapist's or the
    patient's (exclusion constraints), so two desks booking one slot at the
    same moment get one session and one clear refusal.
    """
    organization = clinic.organization
    if not access.can_add(by, TreatmentSession, organization=organization, clinic=clinic):
        raise NotPermitted(
            f"Your role does not allow you to book sessions at {clinic.name}.", field="clinic"
        )
    # Not through an emergency access: it lets a clinician read a record, never book it.
    if patient.organization_id != organization.pk or not access.can(
        by, "view", patient, emergency=False
    ):
        raise NotPermitted("No such patient that you can book.", field="patient")
    return save_booking(
        clinic=clinic,
        therapist=therapist,
        patient=patient,
        starts_at=starts_at,
        by=by,
        length=length,
        needling=needling,
        appointment_type=appointment_type,
        outside_hours_reason=outside_hours_reason,
        submission_key=submission_key,
        series=series,
    )


def save_booking(
    *,
    clinic: Clinic,
    therapist: User,
    patient: Patient,
    starts_at: datetime.datetime,
    by,
    length: datetime.timedelta = DEFAULT_LENGTH,
    needling: bool = True,
    appointment_type: AppointmentType | None = None,
    outside_hours_reason: str = "",
    submission_key=None,
    series=None,
    booked_online: bool = False,
) -> TreatmentSession:
    """The booking's own rules, for a caller that has checked `by` may book `patient` there:
    book_session for staff, sessions.services.online for the patient in the portal."""
    organization = clinic.organization
    if not clinic.is_active:
        raise BookingRefused(f"{clinic.name} is closed (inactive).", field="clinic")
    _therapist_at(clinic, therapist)
    earlier = _booked_with(submission_key, organization, by, clinic, therapist, patient, starts_at)
    if earlier is not None:
        return earlier
    starts_at = _start(starts_at, doing="booked")
    if appointment_type is not None:
        if appointment_type.organization_id != organization.pk or not appointment_type.is_active:
            raise BookingRefused(
                "No such appointment type offered by the organisation.", field="appointment_type"
            )
        length = datetime.timedelta(minutes=appointment_type.minutes)
        needling = appointment_type.needling
    if not SHORTEST <= length <= LONGEST:
        raise BookingRefused("A session lasts 5 minutes to 4 hours.", field="length")
    outside_hours_reason = " ".join(str(outside_hours_reason or "").split())
    session = TreatmentSession(
        organization=organization,
        clinic=clinic,
        patient=patient,
        therapist=therapist,
        starts_at=starts_at,
        ends_at=starts_at + length,
        needling=needling,
        appointment_type=appointment_type,
        outside_hours_reason=outside_hours_reason,
        booked_by=by,
        booked_online=booked_online,
        submission_key=submission_key,
        series=series,
    )
    if appointment_type is not None and needling:
        _check_credential_for(session, field="appointment_type")
    _within_hours_or_said_why(session)
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        # The same booking a moment ago (a double click): PostgreSQL may name the clash
        # rather than the key, as the exclusion constraints are checked first.
        if constraint == "session_submission_once" or (
            constraint in CLASHES
            and submission_key is not None
            and TreatmentSession.objects.filter(
                organization=organization, submission_key=submission_key
            ).exists()
        ):
            return _booked_with(
                submission_key, organization, by, clinic, therapist, patient, starts_at
            )
        if constraint in CLASHES:
            raise _clash(session, CLASHES[constraint], by) from None
        merged = merged_patient_refusal(error)  # merged away while this booking was on its way
        if merged is not None:
            raise BookingRefused(merged, field="patient") from None
        raise
    plan_reminder(session=session)
    return session


SERIES_WEEKS = (2, 52)


@transaction.atomic
def book_weekly(
    *,
    clinic: Clinic,
    therapist: User,
    patient: Patient,
    starts_at: datetime.datetime,
    weeks: int,
    by,
    **booking,
) -> list[TreatmentSession]:
    """Book the same time every week for `weeks` weeks: each week its own session, all of
    them or none. The time is the clinic's: across a clock change the series stays at
    10:00 there. Every week that cannot be booked (a clash, outside the hours, ...) is
    listed in one SeriesRefused before anything is saved."""
    least, most = SERIES_WEEKS
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not least <= weeks <= most:
        raise BookingRefused(f"weeks: a series lasts {least} to {most} weeks.", field="weeks")
    if starts_at is None or timezone.is_naive(starts_at):
        raise BookingRefused(
            "Give the start as a date and time with its timezone.", field="starts_at"
        )
    zone = clinic.zone
    wall = timezone.localtime(starts_at, zone).replace(tzinfo=None)
    series = uuid.uuid4()
    booked, refused = [], []
    for week in range(weeks):
        when = timezone.make_aware(wall + datetime.timedelta(weeks=week), zone)
        try:
            booked.append(
                book_session(
                    clinic=clinic,
                    therapist=therapist,
                    patient=patient,
                    starts_at=when,
                    by=by,
                    series=series,
                    **booking,
                )
            )
        except (BookingRefused, DoubleBooked) as refusal:
            if week == 0 and refusal.field not in ("starts_at", "appointment_type", None):
                raise  # not about a week: about the patient, the therapist, the clinic
            refused.append((when, refusal.message))
    if refused:
        raise SeriesRefused(weeks=weeks, refused=refused, zone=zone)
    return booked


def _therapist_at(clinic: Clinic, therapist: User) -> None:
    if not availability.works_at(clinic, therapist):
        raise BookingRefused(
            f"{therapist.get_full_name()} is not a therapist at {clinic.name}.", field="therapist"
        )


def _start(starts_at: datetime.datetime | None, *, doing: str) -> datetime.datetime:
    """A session's start as given, in UTC, or why it cannot be `doing` ("booked", "moved")."""
    if starts_at is None or timezone.is_naive(starts_at):
        raise BookingRefused(
            "Give the start as a date and time with its timezone.", field="starts_at"
        )
    # In UTC, so that the length is real minutes: on a clinic's clock, 01:45 plus 30
    # minutes is not 02:15 on the night the clocks go forward.
    starts_at = starts_at.astimezone(datetime.UTC)
    if starts_at < timezone.now() - BOOKING_GRACE:
        where = "in" if doing == "booked" else "into"
        raise BookingRefused(
            f"A session cannot be {doing} {where} the past (more than 15 minutes ago).",
            field="starts_at",
        )
    return starts_at


def _booked_with(key, organization, by, clinic, therapist, patient, starts_at):
    """The session an earlier request with this key booked, if it is this very booking."""
    if key is None:
        return None
    earlier = TreatmentSession.objects.filter(organization=organization, submission_key=key).first()
    if earlier is None:
        return None
    same = (earlier.clinic_id, earlier.therapist_id, earlier.patient_id, earlier.starts_at) == (
        clinic.pk,
        therapist.pk,
        patient.pk,
        starts_at,
    )
    if not same or not access.can(by, "view", earlier):
        raise SubmissionKeyReused()
    return earlier


NEXT_SLOTS = 5
"""Free slots a double-booking refusal offers instead, from the time asked for on."""


def _clash(session: TreatmentSession, who: str, by) -> DoubleBooked:
    """Name the session in the way, as far as `by` may see it, and offer the next free slots."""
    other = (
        TreatmentSession.objects.filter(
            organization_id=session.organization_id,
            status__in=HOLDS_THE_SLOT,
            starts_at__lt=session.ends_at,
            ends_at__gt=session.starts_at,
            **{who: getattr(session, who)},
        )
        .exclude(pk=session.pk)
        .select_related("clinic", "patient", "therapist")
        .order_by("starts_at")
        .first()
    )
    zone = session.clinic.zone
    when = (
        f"{timezone.localtime(other.starts_at, zone):%H:%M}"
        f" to {timezone.localtime(other.ends_at, zone):%H:%M}"
        if other is not None
        else "that time"
    )
    if who == "therapist":
        subject = f"{session.therapist.get_full_name()} already has a session"
    else:
        subject = f"{session.patient.full_name} already has a session"
    where = ""
    if other is not None and access.can(by, "view", other):
        partner = other.patient.full_name if who == "therapist" else other.therapist.get_full_name()
        where = f" with {partner} at {other.clinic.name}"
    slots = availability.free_slots(
        session.clinic,
        appointment_type=session.appointment_type
        or availability.Wanted(
            minutes=int((session.ends_at - session.starts_at).total_seconds() // 60),
            needling=session.needling,
        ),
        starts_at=session.starts_at,
        ends_at=session.starts_at + datetime.timedelta(days=14),
        therapist=session.therapist,
        patient_id=session.patient_id,
        limit=NEXT_SLOTS,
    )
    offered = ""
    if slots:
        times = ", ".join(
            dateformat.format(timezone.localtime(slot.starts_at, zone), "D j M H:i")
            for slot in slots
        )
        offered = f" Free with {session.therapist.get_full_name()}: {times}."
    return DoubleBooked(
        f"{subject} {when}{where}. Choose another time.{offered}",
        field="starts_at",
        next_slots=slots,
    )


@transaction.atomic
def reschedule_session(
    *,
    session: TreatmentSession,
    by,
    starts_at: datetime.datetime,
    therapist: User | None = None,
    outside_hours_reason: str = "",
) -> TreatmentSession:
    """Move a booked session to another time, or another therapist of its clinic, or both.

    Its length, type and patient stay; its history keeps where it was before
    (the booking is tracked). The same rules as booking apply to where it goes:
    no clash (the exclusion constraints), not in the past, the therapist's
    working hours unless a reason is given, and a current credential for a
    needling type. A session started, signed, cancelled or a no-show stays put.
    """
    return record_move(
        session=_locked(session, by),
        by=by,
        starts_at=starts_at,
        therapist=therapist,
        outside_hours_reason=outside_hours_reason,
    )


def record_move(
    *,
    session: TreatmentSession,
    by,
    starts_at: datetime.datetime,
    therapist: User | None = None,
    outside_hours_reason: str = "",
) -> TreatmentSession:
    """Move `session`, locked (select_for_update) by a caller that has checked `by` may:
    reschedule_session for staff, sessions.services.online for the patient in the portal."""
    if session.status != Status.BOOKED:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} cannot be moved."
        )
    clinic = session.clinic
    therapist = therapist or session.therapist
    if therapist.pk != session.therapist_id:
        _therapist_at(clinic, therapist)
    starts_at = _start(starts_at, doing="moved")
    length = session.ends_at - session.starts_at
    if starts_at != session.starts_at:
        session.confirmed_at = None  # the patient confirmed the time it had, not this one
    session.starts_at, session.ends_at = starts_at, starts_at + length
    session.therapist = therapist
    session.outside_hours_reason = " ".join(str(outside_hours_reason or "").split())
    if session.appointment_type_id is not None and session.needling:
        _check_credential_for(session, field="therapist")
    _within_hours_or_said_why(session)
    session.version += 1
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint in CLASHES:
            raise _clash(session, CLASHES[constraint], by) from None
        raise
    plan_reminder(session=session)  # the old time's reminder is never sent (its sender checks)
    return session


def _within_hours_or_said_why(session: TreatmentSession) -> None:
    """Refuse a time in a closure of the clinic or an absence of the therapist, or outside
    their working hours at the clinic (where it keeps any for them), unless the session
    carries a reason."""
    clinic, therapist = session.clinic, session.therapist
    if session.outside_hours_reason:
        return
    change = availability.change_in_the_way(session, clinic=clinic)
    if change is not None:
        zone = clinic.zone
        until = dateformat.format(timezone.localtime(change.ends_at, zone), "D j M H:i")
        why = f" ({change.reason})" if change.reason else ""
        who = (
            f"{clinic.name} is closed"
            if change.kind == ChangeKind.CLOSED
            else f"{therapist.get_full_name()} is away"
        )
        raise OutsideWorkingHours(
            f"{who} then, until {until}{why}. Choose a free slot, or give a reason to book "
            "all the same.",
            field="starts_at",
        )
    if availability.has_working_hours(
        therapist, clinic=clinic
    ) and not availability.within_working_hours(session, clinic=clinic):
        hours = availability.hours_of_the_day(therapist, clinic=clinic, on=session.starts_at)
        raise OutsideWorkingHours(
            f"{therapist.get_full_name()} does not work at {clinic.name} then ({hours}). "
            "Choose a free slot, or give a reason to book outside their hours.",
            field="starts_at",
        )


@transaction.atomic
def cancel_session(*, session: TreatmentSession, by, reason: str) -> TreatmentSession:
    """Cancel a booked session with a reason; its time is free again.

    A cancellation within the organisation's notice period before the start
    (sessions.services.schedule.booking_settings_of) is recorded as late.
    """
    return record_cancellation(session=_locked(session, by), by=by, reason=reason)


def record_cancellation(*, session: TreatmentSession, by, reason: str) -> TreatmentSession:
    """Cancel `session`, locked (select_for_update) by a caller that has checked `by` may.

    For the services where the patient cancels their own booking (a reminder's
    link, the portal); staff go through cancel_session. Cancelling twice
    changes nothing; late is worked out here, for every way of cancelling.
    """
    if session.status == Status.CANCELLED:
        return session
    if session.status != Status.BOOKED:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} cannot be cancelled."
        )
    reason = reason.strip()
    if not reason:
        raise BookingRefused("Say why the session is cancelled.", field="reason")
    session.status = Status.CANCELLED
    session.cancelled_at, session.cancelled_by = timezone.now(), by
    session.cancellation_reason = reason
    session.cancelled_late = is_late(session, session.cancelled_at)
    session.version += 1
    session.save()
    return session


def is_late(session: TreatmentSession, moment) -> bool:
    """Whether `moment` is within the organisation's notice period before the session."""
    notice = datetime.timedelta(hours=booking_settings_of(session.organization).notice_hours)
    return moment > session.starts_at - notice


@transaction.atomic
def mark_no_show(*, session: TreatmentSession, by, reason: str = "") -> TreatmentSession:
    """Record that the patient did not come (once the session's start has passed)."""
    session = _locked(session, by)
    if session.status == Status.NO_SHOW:
        return session
    if session.status != Status.BOOKED:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} cannot be a no-show."
        )
    if session.starts_at > timezone.now():
        raise SessionStateRefused("A session is marked as a no-show only after its start time.")
    session.status = Status.NO_SHOW
    session.no_show_at, session.no_show_by = timezone.now(), by
    session.no_show_reason = reason.strip()
    session.version += 1
    session.save()
    return session


@transaction.atomic
def start_session(
    *, session: TreatmentSession, by, override_reason: str = "", without_needling: bool = False
) -> TreatmentSession:
    """Start the session: the gate before any needle.

    Refused on any day but the one it is booked for, on its clinic's clock
    (sessions.clock.start_day_refusal). Refused unless the patient has a
    consent that counts, a screening inside its validity window and no
    absolute contraindication. A relative one needs the therapist's reason
    to proceed, kept with the session. Starting twice changes nothing the
    second time.

    A session without needling (booked so, or started `without_needling`,
    which settles it) asks none of consent, screening or contraindications to
    needling; the open urgent alerts and reviews stop it all the same.
    """
    session = _locked(session, by)
    if not is_its_therapist(by, session):
        raise NotPermitted("Only the session's therapist starts it.")
    if session.status == Status.IN_PROGRESS:
        return session
    if session.status != Status.BOOKED:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} cannot be started."
        )
    not_today = clock.start_day_refusal(session)
    if not_today is not None:
        raise StartRefused(not_today, field="starts_at")
    _check_credential(session)
    # The patient's row is locked too: a withdrawal or a reported change waits.
    Patient.objects.select_for_update(of=("self",)).get(pk=session.patient_id)
    if without_needling:
        session.needling = False
    status = clinical_status(session.patient)
    refusals = start_refusals(session, status=status)
    if refusals:
        raise StartRefused(
            "Needling is refused: " + " ".join(refusal.text for refusal in refusals),
            field="patient",
            blockers=refusals,
        )
    relative = [flag.contraindication for flag in status.relative_flags if session.needling]
    override_reason = override_reason.strip()
    if relative and not override_reason:
        labels = ", ".join(flag.label for flag in status.relative_flags)
        raise StartRefused(
            f"Relative contraindications: {labels}. Record your reason to proceed.",
            field="override_reason",
        )
    if relative:
        ContraindicationOverride.objects.create(
            organization_id=session.organization_id,
            session=session,
            contraindications=relative,
            reason=override_reason,
            recorded_by=by,
        )
    session.status = Status.IN_PROGRESS
    session.started_at, session.started_by = timezone.now(), by
    session.version += 1
    session.save()
    Chart.objects.create(organization_id=session.organization_id, session=session)
    return session


def _check_credential_for(session: TreatmentSession, *, field: str) -> None:
    """A needling appointment is booked with a therapist whose credential holds on its day."""
    day = timezone.localdate(session.starts_at, timezone=session.clinic.zone)
    expires = (
        therapist_roles(clinic=session.clinic_id, user=session.therapist_id)
        .exclude(credential="")
        .values_list("credential_expires_on", flat=True)
        .first()
    )
    if expires is None or expires < day:
        raise BookingRefused(
            f"{session.therapist.get_full_name()} has no dry-needling credential current on "
            f"{day:%d %B %Y}: choose a type without needling, or another therapist.",
            field=field,
        )


def _check_credential(session: TreatmentSession) -> None:
    role = therapist_roles(clinic=session.clinic_id, user=session.therapist_id).first()
    today = timezone.localdate(timezone=session.clinic.zone)
    if role is None or role.credential_expires_on is None:
        raise StartRefused(
            "No dry-needling credential is recorded for you at this clinic: ask your "
            "clinic manager to record it before you start sessions.",
            field="therapist",
        )
    if role.credential_expires_on < today:
        raise StartRefused(
            f"Your dry-needling credential ({role.credential}) expired on "
            f"{role.credential_expires_on:%d %B %Y}: renew it before you start sessions.",
            field="therapist",
        )


def start_refusals(
    session: TreatmentSession, *, status=None, needling: bool | None = None
) -> list[safety.Blocker]:
    """Everything that refuses the start of `session` now, each with where to clear it.

    Open urgent alerts its therapist has not acknowledged and adverse events
    awaiting review (patients.safety, from the apps that hold them), absolute
    contraindications, consent and screening. Relative contraindications do not
    refuse: they ask for a reason to proceed. The start gate of the page shows
    these instead of the Start button; start_session refuses with them.
    `needling` asks for the session with (True) or without (False) needling
    instead of as booked: without, only the alerts and reviews refuse.
    """
    patient = session.patient
    refusals = safety.start_blockers(patient, session.therapist)
    if not (session.needling if needling is None else needling):
        return refusals
    status = status or clinical_status(patient)
    flagged = set(status.screening.flags) if status.screening is not None else set()
    for flag in status.absolute_flags:
        from_screening = flag.contraindication in flagged
        refusals.append(
            safety.Blocker(
                f"{flag.label} is an absolute contraindication.",
                reverse("patients:screening_detail", args=[patient.pk, status.screening.pk])
                if from_screening
                else "",
                "See the screening" if from_screening else "",
            )
        )
    if not status.consent_valid:
        refusals.append(
            safety.Blocker(
                CONSENT_REFUSALS[status.consent_state],
                reverse("patients:consent_sign", args=[patient.pk]),
                "Take consent",
                forms=True,
            )
        )
    if not status.screening_valid:
        refusals.append(
            safety.Blocker(
                SCREENING_REFUSALS[status.screening_state],
                reverse("patients:screening_new", args=[patient.pk]),
                "Screen now",
                forms=True,
            )
        )
    return refusals


CONSENT_REFUSALS = {
    ConsentState.MISSING: "There is no signed consent.",
    ConsentState.WITHDRAWN: "The patient withdrew consent.",
    ConsentState.OUTDATED: "The consent was signed on an older version: the current one must "
    "be signed.",
}
SCREENING_REFUSALS = {
    ScreeningState.MISSING: "There is no screening.",
    ScreeningState.EXPIRED: "The screening has expired.",
    ScreeningState.CHANGED: "The patient reported a change in health since the screening.",
}


def _locked(session: TreatmentSession, by) -> TreatmentSession:
    session = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient")
        .get(pk=session.pk)
    )
    if not access.can(by, "change", session):
        raise NotPermitted("Your role does not allow you to change this session.")
    return session
