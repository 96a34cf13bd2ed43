"""Demo aftercare: a plan to read and a check-in to answer, answers filed, and alerts.

Runs after sessions.demo.load, whose signed sessions already have their plans
(signing issues them, with the organisation's advice) and their check-ins.
Everything is written through the services, by whoever would do it: Emma
Clarke's therapist charts a new session of hers, writes her additions to the
plan and signs it; patients answer their check-ins and read their plans in the
portal (Walter Brooks, Hiroshi Tanaka and Amara Osei get portal logins for it,
made as patients.demo makes Emma's); a therapist acknowledges and resolves an
alert.

A check-in takes answers only while it is open. The demo's check-ins count
from the needling's end as charted on the session's day (sessions.demo), but
the demo signs the charts when it is loaded, late: scheduling then asks the
latest check-in still open at once and the later ones at their times. So
before a check-in is answered (or, for Emma, left to answer) it is made at its
time by `asked` and moved to take answers now by `open_now` (demo only: no
service does either). The answers, alerts and notes are dated when the demo
was loaded.

Idempotent: Emma's session carries a submission key, a check-in answered,
an alert resolved or a patient with a login is left as it is, so a second run
adds nothing.
"""

import datetime
import uuid
from dataclasses import dataclass, field

import pghistory
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from aftercare import services, tasks
from aftercare.models import (
    AftercarePlan,
    Alert,
    CheckIn,
    CheckInAnswer,
    HeatOrIce,
    PlanStatus,
)
from clinics import jobs
from clinics.models import Clinic
from patients import services as patient_services
from patients.demo import _portal_login
from patients.models import Patient
from sessions import clock
from sessions import services as session_services
from sessions.demo import (
    COMPLAINTS,
    DEMO,
    DESKS,
    EMMA,
    NEEDLES,
    OTHER_LOT,
    THERAPISTS,
    _credential_current,
    move_back,
    staging_slot,
)
from sessions.demo import KEYS as SESSION_KEYS
from sessions.models import HOLDS_THE_SLOT, TreatmentSession

KEYS = uuid.UUID("5a1e0d3c-9b0f-4f8e-a6a4-6d656d6f0002")
"""Namespace of this demo's submission keys (Emma's session, exercises, answers)."""

WALTER, HIROSHI, AMARA = "Walter Brooks", "Hiroshi Tanaka", "Amara Osei"

PORTAL_LOGINS = {
    WALTER: ("Kelowna", "walter@demo.fascia.test"),
    HIROSHI: ("Toronto", "hiroshi@demo.fascia.test"),
    AMARA: ("Toronto", "amara@demo.fascia.test"),
}
"""Patients of the demo week who answer a check-in, and the portal login the demo makes them."""

# --- Emma's session of yesterday: the plan written before signing -----------------

EMMA_VISIT = "emma-yesterday"
EMMA_TIMES = ("08:00", "12:30", "17:00", "07:00")
"""Yesterday's clock times tried in turn for Emma's session, the first both she and her
therapist have free (an older demo database may hold other sessions then)."""

EMMA_CHART = {
    "pain": (3, 1),
    "subjective_notes": "Sore for a day after the last session, as expected. A headache this "
    "morning after a late night at the screen.",
    "assessment": "Right upper trapezius and levator scapulae active again.",
    "sites": (("upper-trapezius", "right", 1), ("levator-scapulae", "right", 1)),
}

EMMA_PLAN = {
    "heat_or_ice": HeatOrIce.HEAT,
    "activity_limits": "No heavy lifting and no overhead work for 48 hours. Get up from the "
    "screen every 30 minutes.",
    "next_visit": "Tomorrow, as booked.",
    "other_advice": "Raise the monitor so the top of the screen is at eye level.",
}

EMMA_EXERCISES = [
    {
        "name": "Chin tucks",
        "sets": 2,
        "reps": 10,
        "hold_seconds": 5,
        "frequency": "Three times a day",
        "notes": "Sitting tall, slide the chin straight back; no nodding.",
    },
    {
        "name": "Upper trapezius stretch",
        "sets": 3,
        "reps": 2,
        "hold_seconds": 30,
        "frequency": "Twice a day",
        "notes": "Ear towards the left shoulder, the right hand holding the chair seat. Gently.",
    },
]

# --- Check-ins of the demo week, answered by the patients -------------------------

CALM = {
    "soreness": 3,
    "pain": 2,
    "bruising": "none",
    "fatigue": "none",
    "trend": "better",
    "chest_pain": False,
    "short_of_breath": False,
    "infection_signs": False,
    "nerve_symptoms": False,
    "comments": "",
}


@dataclass(frozen=True)
class Reply:
    """A patient's answers to the check-in `hours` after a session of sessions.demo's week."""

    session: str
    """The sessions demo's name for the session (its submission key is made from it)."""
    hours: int
    answers: dict = field(default_factory=dict)
    """What differs from CALM."""


REPLIES = [
    # Emma, after her session two days ago: sore for a day, gone by 48 hours (as its
    # addendum says). She also marks its plan read.
    # Emma's earlier sessions: fine by the last check-in.
    Reply("emma-1", 72, {"soreness": 0, "pain": 3}),
    Reply("emma-2", 72, {"soreness": 1, "pain": 2}),
    Reply("emma-3", 24, {"soreness": 4, "fatigue": "some",
                         "comments": "Sore across the top of the shoulder for the rest of the "
                         "day, as you said it might be."}),
    Reply("emma-3", 48, {"soreness": 1, "comments": "The soreness has gone."}),
    # Hiroshi, the day after the suspected pneumothorax at Toronto.
    Reply("hiroshi-3", 24, {"pain": 3, "fatigue": "some",
                            "comments": "The chest X-ray at emergency was clear and my breathing "
                            "is normal again. Just sore between the shoulder blades."}),
    # Amara: a needle site looks infected (an alert, which her therapist resolves).
    Reply("amara-2", 48, {"trend": "same", "infection_signs": True,
                          "comments": "One of the spots on my left thigh is red and warm, "
                          "about the size of a coin."}),
    # Walter: chest pain (urgent, left for the therapist to see at the top of Alerts).
    Reply("walter-3", 24, {"soreness": 4, "pain": 4, "trend": "worse", "bruising": "some",
                           "fatigue": "a_lot", "chest_pain": True, "short_of_breath": True,
                           "comments": "Tight pain across my chest since this morning, and "
                           "short of breath on the stairs."}),
]  # fmt: skip

PLAN_READ = "emma-3"
"""The session whose plan its patient marks read in the portal (Emma's newest stays unread)."""

RESOLVED = (
    "amara-2",
    "Phoned Amara: a red, warm patch about 2 cm across at one needle site on the left thigh; "
    "no pus, no fever (36.8 °C).",
    "Advised keeping it clean with a cool compress and watching it: she calls us, or her GP, "
    "if it spreads, weeps or she gets a fever. To be checked at her next visit.",
)
"""The alert its therapist acknowledges and resolves: the session, then the two notes."""


def load() -> list[tuple[str, str]]:
    """Write the demo aftercare; return (who, e-mail) for the patients' new portal logins."""
    now = timezone.now()
    kelowna = Clinic.objects.select_related("organization").get(
        organization__name=DEMO, name="Kelowna"
    )
    organization = kelowna.organization
    logins = []
    for name, (clinic_name, email) in PORTAL_LOGINS.items():
        patient = _patient(organization, name)
        _with_portal_login(patient, email=email, by=_person(THERAPISTS[clinic_name]))
        logins.append((f"Patient portal, {DEMO} ({clinic_name}): {name}", email))

    emma = _patient(organization, EMMA)
    _emma_session(kelowna, emma, now)

    for reply in REPLIES:
        session = _week_session(organization, reply.session)
        check_in = asked(session, reply.hours)
        if CheckInAnswer.objects.filter(check_in=check_in).exists():
            continue  # answered when the demo was loaded before
        check_in = open_now(check_in, now=now)
        services.answer_check_in(
            check_in=check_in,
            by=session.patient.user,
            submission_key=uuid.uuid5(KEYS, f"{reply.session}:{reply.hours}"),
            **{**CALM, **reply.answers},
        )

    read = _week_session(organization, PLAN_READ)
    services.mark_plan_read(plan=AftercarePlan.objects.get(session=read), by=read.patient.user)

    session_key, acknowledged, resolved = RESOLVED
    session = _week_session(organization, session_key)
    alert = Alert.objects.get(session=session)
    if alert.resolved_at is None:
        therapist = session.therapist
        alert = services.acknowledge_alert(alert=alert, by=therapist, note=acknowledged)
        services.resolve_alert(alert=alert, by=therapist, note=resolved)
    return logins


def _person(email: str) -> User:
    return User.objects.get(email=email)


def _patient(organization, full_name: str) -> Patient:
    first, last = full_name.split(" ", 1)
    return Patient.objects.select_related("home_clinic").get(
        organization=organization, first_name=first, last_name=last
    )


def _with_portal_login(patient: Patient, *, email: str, by: User) -> None:
    """The therapist records the patient's e-mail address; the patient takes a portal login."""
    if patient.user_id is not None:
        return
    if patient.email != email:
        patient = patient_services.update_patient(patient=patient, by=by, email=email)
    _portal_login(patient, by=by)


def _week_session(organization, key: str) -> TreatmentSession:
    """A signed session of sessions.demo's week, with its plan issued.

    Its plan was issued when sessions.demo signed it, unless that was before
    aftercare existed (a database from an older demo): then its therapist
    issues it now, as signing would have.
    """
    session = TreatmentSession.objects.select_related("patient__user", "therapist").get(
        organization=organization, submission_key=uuid.uuid5(SESSION_KEYS, key)
    )
    if not AftercarePlan.objects.filter(session=session, status=PlanStatus.ISSUED).exists():
        services.issue_plan(session=session, by=session.therapist)
    return session


def _emma_session(clinic: Clinic, emma: Patient, now: datetime.datetime) -> None:
    """Yesterday's session of Emma: charted, her plan written by Priya, signed; its 24 h
    check-in open now, and its plan not read yet."""
    key = uuid.uuid5(KEYS, EMMA_VISIT)
    if TreatmentSession.objects.filter(
        organization=clinic.organization, submission_key=key
    ).exists():
        return  # loaded before
    therapist = _person(THERAPISTS[clinic.name])
    _credential_current(clinic)
    starts_at = _free_slot(clinic, therapist, emma, now)
    # Started today (a session starts on its own day only), then moved back to yesterday.
    session = session_services.book_session(
        clinic=clinic,
        therapist=therapist,
        patient=emma,
        starts_at=staging_slot(clinic, therapist=therapist, patient=emma),
        by=_person(DESKS[clinic.name]),
        submission_key=key,
    )
    session = session_services.start_session(session=session, by=therapist)
    _chart(session, therapist)
    services.save_plan(session=session, by=therapist, **EMMA_PLAN)
    for exercise in EMMA_EXERCISES:
        services.add_exercise(
            session=session,
            by=therapist,
            submission_key=uuid.uuid5(KEYS, f"{EMMA_VISIT}:{exercise['name']}"),
            **exercise,
        )
    started_at = session.started_at
    session = move_back(session, starts_at=starts_at)
    with pghistory.context(demo="moved back to its day by aftercare.demo"):
        # The draft was written during the session, so it moves with it.
        AftercarePlan.objects.filter(session=session, status=PlanStatus.DRAFT).update(
            updated_at=F("updated_at") + (session.started_at - started_at)
        )
    session = session_services.sign_session(session=session, by=therapist)
    check_in = open_now(CheckIn.objects.get(session=session, hours_after=24), now=now)
    # Its e-mail goes out now (printed in the console by `make run`'s worker).
    jobs.run_at(tasks.send_check_in, check_in.due_at, check_in_id=str(check_in.pk))


def _free_slot(clinic: Clinic, therapist: User, patient: Patient, now) -> datetime.datetime:
    yesterday = timezone.localdate(now, timezone=clinic.zone) - datetime.timedelta(days=1)
    length = session_services.DEFAULT_LENGTH
    candidates = [
        datetime.datetime.combine(yesterday, datetime.time.fromisoformat(at), tzinfo=clinic.zone)
        for at in EMMA_TIMES
    ]
    for starts_at in candidates:
        taken = TreatmentSession.objects.filter(
            organization=clinic.organization,
            status__in=HOLDS_THE_SLOT,
            starts_at__lt=starts_at + length,
            ends_at__gt=starts_at,
        )
        if (
            not taken.filter(therapist=therapist).exists()
            and not taken.filter(patient=patient).exists()
        ):
            return starts_at
    return candidates[0]  # booking it says which session is in the way


def _chart(session: TreatmentSession, therapist: User) -> None:
    chart = session_services.chart_of(session)
    sites = EMMA_CHART["sites"]
    needles = sum(count for _, _, count in sites)
    pain_before, pain_after = EMMA_CHART["pain"]
    session_services.save_chart(
        session=session,
        by=therapist,
        expected_version=chart.version,
        complaint=COMPLAINTS[EMMA],
        subjective_notes=EMMA_CHART["subjective_notes"],
        assessment=EMMA_CHART["assessment"],
        pain_before=pain_before,
        pain_after=pain_after,
        needles_inserted=needles,
        needles_removed=needles,
        needling_ended_at=timezone.now(),  # moved back with the session (sessions.demo)
    )
    for muscle, side, count in sites:
        length, depth, gauge, technique, retention = NEEDLES[muscle]
        session_services.add_needle_site(
            session=session,
            by=therapist,
            muscle=muscle,
            side=side,
            needles=count,
            needle_length_mm=length,
            needle_gauge_mm=gauge,
            depth_mm=depth,
            technique=technique,
            twitch_response="some",
            lot_number=OTHER_LOT,
            retention_minutes=retention,
            risk_acknowledged=True,  # ticked by the therapist for the sites over the lung
        )


def asked(session: TreatmentSession, hours: int) -> CheckIn:
    """Demo only: the session's check-in at `hours`, as it was scheduled had its chart been
    signed as the needling ended.

    sessions.demo signs the week's charts when the demo is loaded, days after
    some of the sessions; scheduling then asks only the check-ins still to
    come (and the latest one passed), so an earlier one the demo answers is
    made here, at its time: `hours` after the needling ended, as charted.
    """
    due_at = clock.needling_ended_at(session) + datetime.timedelta(hours=hours)
    check_in, _ = CheckIn.objects.select_related("session").get_or_create(
        organization_id=session.organization_id,
        session=session,
        hours_after=hours,
        defaults={
            "clinic_id": session.clinic_id,
            "patient_id": session.patient_id,
            "due_at": due_at,
            "closes_at": due_at + services.OPEN_FOR,
        },
    )
    return check_in


OPEN_MARGIN = datetime.timedelta(hours=1)
"""A check-in moved back stays open at least this long after the demo is loaded."""


def open_now(check_in: CheckIn, *, now: datetime.datetime) -> CheckIn:
    """Demo only: move a check-in nobody answered so that it takes answers now.

    No service does this: a real check-in falls due its hours after the
    needling ended, or when a chart signed late is signed. sessions.demo signs
    each past session when the demo is loaded, so some of its check-ins fall
    due a day or more after loading. This moves one back to when it would
    have fallen due had the session been signed as the needling ended, but no
    later than `now` and no earlier than its three days open allow (it keeps
    them: `closes_at` moves with it). The history keeps the move, marked as
    the demo's.
    """
    ended = clock.needling_ended_at(check_in.session)
    due_at = ended + datetime.timedelta(hours=check_in.hours_after)
    due_at = min(max(due_at, now - services.OPEN_FOR + OPEN_MARGIN), now)
    with pghistory.context(demo="moved back to its session's day by aftercare.demo"):
        CheckIn.objects.filter(pk=check_in.pk, answer__isnull=True).update(
            due_at=due_at, closes_at=due_at + services.OPEN_FOR
        )
    check_in.refresh_from_db()
    return check_in
