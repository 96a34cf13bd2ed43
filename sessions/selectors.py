"""Reads of sessions and charts that several pages and the API share; each costs fixed queries."""

import datetime
from dataclasses import dataclass, replace
from enum import StrEnum

from django.db.models import QuerySet
from django.utils import timezone

from clinics import access
from clinics.models import Clinic
from patients.models import Patient
from sessions import clock
from sessions.models import (
    Addendum,
    AdverseEvent,
    Chart,
    ContraindicationOverride,
    NeedleSite,
    PressurePainThreshold,
    RangeOfMotion,
    RecallNotice,
    Reminder,
    Status,
    TreatmentSession,
)


def reminder_of(user, session: TreatmentSession) -> Reminder | None:
    """The session's reminder as `user` may see it: the one for its present time, or, when
    it has none (moved too close to remind), the latest."""
    reminders = access.visible_to(user, Reminder.objects.filter(session=session))
    return (
        reminders.filter(for_starts_at=session.starts_at).first()
        or reminders.order_by("-for_starts_at").first()
    )


def day_bounds(day: datetime.date, zone) -> tuple[datetime.datetime, datetime.datetime]:
    """Midnight to midnight of `day` on a clinic's clock."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    return start, datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )


def sessions_on(user, *, clinic: Clinic, day: datetime.date, therapist=None) -> QuerySet:
    """The sessions at `clinic` on `day` (its own clock) that `user` may see, by start time."""
    return sessions_between(user, clinic=clinic, first=day, last=day, therapist=therapist)


def sessions_between(
    user, *, clinic: Clinic, first: datetime.date, last: datetime.date, therapist=None
) -> QuerySet:
    """The sessions at `clinic` from `first` to `last` (both whole days, its own clock) that
    `user` may see, by start time."""
    start, end = day_bounds(first, clinic.zone)[0], day_bounds(last, clinic.zone)[1]
    sessions = TreatmentSession.objects.filter(
        clinic=clinic, starts_at__gte=start, starts_at__lt=end
    ).select_related("patient__home_clinic", "patient__organization", "therapist", "clinic")
    if therapist is not None:
        sessions = sessions.filter(therapist=therapist)
    return access.visible_to(user, sessions).order_by("starts_at", "id")


@dataclass(frozen=True)
class ChartView:
    """Everything a chart page or the API shows of one session's chart."""

    session: TreatmentSession
    chart: Chart | None
    override: ContraindicationOverride | None
    needle_sites: list[NeedleSite]
    range_of_motion: list[RangeOfMotion]
    pressure_pain_thresholds: list[PressurePainThreshold]
    adverse_events: list[AdverseEvent]
    addenda: list[Addendum]

    @property
    def needles_charted(self) -> int:
        return sum(site.needles for site in self.needle_sites)


def chart_view(user, session: TreatmentSession) -> ChartView | None:
    """The chart of `session` as `user` may read it, or None (front desk, patients)."""
    if not access.can(user, "view", session) or not access.can_at(
        user,
        "view",
        Chart,
        organization=session.organization,
        clinic=session.clinic,
        patient=session.patient,
    ):
        return None

    def rows(model, *related):
        return list(
            access.visible_to(user, model.objects.filter(session=session).select_related(*related))
        )

    return ChartView(
        session=session,
        chart=access.visible_to(user, Chart.objects.filter(session=session))
        .select_related("updated_by", "template")
        .first(),
        override=access.visible_to(user, ContraindicationOverride.objects.filter(session=session))
        .select_related("recorded_by")
        .first(),
        needle_sites=rows(
            NeedleSite, "muscle", "organization_muscle", "recorded_by", "risk_acknowledged_by"
        ),
        range_of_motion=rows(RangeOfMotion, "recorded_by"),
        pressure_pain_thresholds=rows(PressurePainThreshold, "recorded_by"),
        adverse_events=list(
            access.visible_to(user, AdverseEvent.objects.filter(session=session))
            .select_related("recorded_by")
            .prefetch_related("review__reviewed_by")
        ),
        addenda=rows(Addendum, "author"),
    )


LOT_NUMBER_LENGTH = 40
"""As long as a needle site's lot number may be (sessions.models.NeedleSite.lot_number)."""


def lot_key(lot_number: str) -> str:
    """A lot number as the needle sites store it: capitals, single spaces, no ends."""
    return " ".join(str(lot_number or "").split()).upper()


def needled_with_lot(user, lot_number: str) -> QuerySet:
    """Every needle site `user` may see that used needles of this lot: for a recall."""
    return (
        access.visible_to(user, NeedleSite.objects.filter(lot_number=lot_key(lot_number)))
        .select_related(
            "session__patient__organization",
            "session__patient__home_clinic",
            "session__clinic",
            "session__therapist",
            "muscle",
            "organization_muscle",
        )
        .order_by("session__starts_at", "recorded_at")
    )


@dataclass(frozen=True)
class RecallSession:
    """One session of a recalled patient, with the needle sites of the lot in it."""

    session: TreatmentSession
    sites: list[NeedleSite]

    @property
    def needles(self) -> int:
        return sum(site.needles for site in self.sites)


class NotifyStep(StrEnum):
    """What "notify" does for one patient of a recall now (`RecallPatient.step`)."""

    CALL = "call"
    """No e-mail address on the record: the clinic phones them."""
    ANOTHER_CLINIC = "another_clinic"
    """The clinic that sends their notice is not one of the user's."""
    SEND = "send"
    """No notice yet: one is recorded and e-mailed."""
    SEND_AGAIN = "send_again"
    """Their notice failed, or was queued too long (its job lost): it is e-mailed again."""
    ALREADY = "already"
    """Sent, or on its way: never sent again."""


@dataclass(frozen=True)
class RecallPatient:
    """A patient needled with a recalled lot: their sessions, and the notice sent to them.

    `sending_clinic` sends their notice: the clinic of their first session with
    the lot (`sending_clinics`). `notice` is None when none was asked for, or
    when `user` may not see it (it is another clinic's); `may_notify` says
    whether `user` may send or retry it; `step`, what "notify" does for them now.
    """

    patient: Patient
    sessions: list[RecallSession]
    sending_clinic: Clinic
    notice: RecallNotice | None
    may_notify: bool
    read_at: datetime.datetime
    """When the recall was read: a notice queued long before then is stuck."""

    @property
    def needles(self) -> int:
        return sum(item.needles for item in self.sessions)

    @property
    def sites(self) -> list[NeedleSite]:
        return [site for item in self.sessions for site in item.sites]

    @property
    def call_instead(self) -> bool:
        """No e-mail address on the record: the clinic phones this patient."""
        return not self.patient.email

    @property
    def step(self) -> NotifyStep:
        """What "notify" does for this patient now: the one statement of who is e-mailed."""
        if self.call_instead:
            return NotifyStep.CALL
        if not self.may_notify:
            return NotifyStep.ANOTHER_CLINIC
        if self.notice is None:
            return NotifyStep.SEND
        if self.notice.may_send_again(self.read_at):
            return NotifyStep.SEND_AGAIN
        return NotifyStep.ALREADY

    @property
    def to_notify(self) -> bool:
        """Would "notify" e-mail this patient now (a first notice, or one sent again)?"""
        return self.step in (NotifyStep.SEND, NotifyStep.SEND_AGAIN)

    @property
    def stuck(self) -> bool:
        """Their notice has been queued too long: its e-mail job was lost, or is far behind."""
        return self.notice is not None and self.notice.stuck(self.read_at)


def sending_clinics(organization_id, lot_number: str, patient_ids) -> dict:
    """The clinic that sends each patient's notice of a lot: that of their first session with it.

    Over the whole organisation, whoever asks, so it is one clinic however the
    recall is seen; notices are recorded with it (sessions.services.notify_recall)
    and scoped by it (clinics.access). One query.
    """
    firsts = (
        TreatmentSession.objects.filter(
            organization_id=organization_id,
            patient_id__in=list(patient_ids),
            needle_sites__lot_number=lot_key(lot_number),
        )
        .select_related("clinic__organization")
        .order_by("patient_id", "starts_at", "id")
        .distinct("patient_id")
    )
    return {session.patient_id: session.clinic for session in firsts}


def recall_patients(user, lot_number: str) -> list[RecallPatient]:
    """The patients `user` may see needled with a lot, by name, each session and site beneath.

    Five queries however many patients of one organisation (`recalled` and
    `with_sessions`)."""
    return with_sessions(user, lot_number, recalled(user, lot_number))


def recalled(user, lot_number: str) -> list[RecallPatient]:
    """The patients `user` may see needled with a lot, by name, with the clinic that sends
    their notice and the notice, but not their sessions (`with_sessions` adds them): enough
    to count whom to e-mail and whom to call, and to page through a lot of thousands of
    sites without building each one.

    Four queries however many patients of one organisation: the patients of the sites
    `user` may see, the patients' rows, the clinics that send each notice, and the
    notices of the lot `user` may see.
    """
    lot = lot_key(lot_number)
    if not lot:
        return []
    reached = (
        needled_with_lot(user, lot)
        .order_by()
        .values_list("session__patient_id", "session__organization_id")
        .distinct()
    )
    patients_of: dict = {}  # by organisation: one, but for the platform operator
    for patient_id, organization_id in reached:
        patients_of.setdefault(organization_id, []).append(patient_id)
    if not patients_of:
        return []
    ids = [patient_id for patient_ids in patients_of.values() for patient_id in patient_ids]
    patients = Patient.objects.filter(pk__in=ids).select_related("organization", "home_clinic")
    senders = {}
    for organization_id, patient_ids in patients_of.items():
        senders.update(sending_clinics(organization_id, lot, patient_ids))
    notices = {
        notice.patient_id: notice
        for notice in access.visible_to(
            user, RecallNotice.objects.filter(lot_number=lot, patient_id__in=ids)
        ).select_related("sent_by")
    }
    now = timezone.now()
    found = [
        RecallPatient(
            patient=patient,
            sessions=[],
            sending_clinic=senders[patient.pk],
            notice=notices.get(patient.pk),
            may_notify=may_notify(user, senders[patient.pk]),
            read_at=now,
        )
        for patient in patients
    ]
    found.sort(key=lambda item: (item.patient.last_name.lower(), item.patient.first_name.lower()))
    return found


def with_sessions(user, lot_number: str, patients: list[RecallPatient]) -> list[RecallPatient]:
    """`patients` (of `recalled`) with their sessions with the lot and its sites beneath, in
    their order. One query."""
    if not patients:
        return []
    grouped: dict = {item.patient.pk: {} for item in patients}
    sites = needled_with_lot(user, lot_number).filter(session__patient_id__in=list(grouped))
    for site in sites:
        sessions = grouped[site.session.patient_id]
        sessions.setdefault(site.session_id, (site.session, []))[1].append(site)
    return [
        replace(
            item,
            sessions=[
                RecallSession(session, sites)
                for session, sites in grouped[item.patient.pk].values()
            ],
        )
        for item in patients
    ]


def site_count(user, lot_number: str) -> int:
    """How many needle sites of the lot `user` may see. One query."""
    return needled_with_lot(user, lot_number).order_by().count()


def may_notify(user, sending_clinic: Clinic) -> bool:
    """May `user` send or retry the notices that `sending_clinic` sends? Its clinical staff."""
    return access.can_at(
        user, "add", RecallNotice, organization=sending_clinic.organization, clinic=sending_clinic
    )


@dataclass(frozen=True)
class PainPoint:
    session: TreatmentSession
    day: datetime.date
    pain_before: int | None
    pain_after: int | None
    pain_later: int | None = None
    """A follow-up score given after the session (sessions.progress.register_follow_up)."""


def pain_progress(user, patient: Patient) -> list[PainPoint]:
    """Pain before and after each signed session of `patient`, oldest first (one query)."""
    charts = access.visible_to(
        user,
        Chart.objects.filter(session__patient=patient, session__status=Status.SIGNED)
        .select_related("session__clinic")
        .order_by("session__starts_at"),
    )
    return [
        PainPoint(
            session=chart.session,
            day=timezone.localtime(chart.session.starts_at, chart.session.clinic.zone).date(),
            pain_before=chart.pain_before,
            pain_after=chart.pain_after,
        )
        for chart in charts
    ]


def adverse_events_to_review(user) -> QuerySet:
    """Suspected pneumothoraces (and other reviewed kinds) no organisation admin has reviewed."""
    return (
        access.visible_to(user, AdverseEvent.objects.filter(needs_review=True, review__isnull=True))
        .select_related("session__patient", "session__clinic", "session__therapist")
        .order_by("recorded_at")
    )


@dataclass(frozen=True)
class SessionActions:
    """What `user` may do with a session now: which forms its page offers.

    The same rules the services enforce (sessions/services), read for display.
    """

    change_booking: bool
    start: bool
    chart: bool
    sign: bool
    add_addendum: bool
    not_today: str | None = None
    """Why a booked session cannot be started today (its day is another), shown instead."""


def is_its_therapist(user, session: TreatmentSession) -> bool:
    """Whether `user` is the session's own therapist: only they start it and sign it (others
    of the clinic chart or add an addendum, as their role allows). The services and the
    pages ask this one rule."""
    return session.therapist_id == user.pk


def session_actions(user, session: TreatmentSession, view: ChartView | None) -> SessionActions:
    organization, clinic = session.organization, session.clinic
    in_progress = session.status == Status.IN_PROGRESS
    own = is_its_therapist(user, session)
    not_today = clock.start_day_refusal(session)
    return SessionActions(
        change_booking=session.status == Status.BOOKED and access.can(user, "change", session),
        start=own and clock.may_start_today(session),
        not_today=not_today,
        chart=view is not None
        and in_progress
        and access.can_at(user, "change", Chart, organization=organization, clinic=clinic),
        sign=view is not None and in_progress and own,
        add_addendum=session.status == Status.SIGNED
        and access.can_at(user, "add", Addendum, organization=organization, clinic=clinic),
    )
