"""Demo sessions: a week at both sites of the demo organisation, and a few at the other one.

Runs after clinics.demo.load and patients.demo.load, whose clinics, staff and
patients it uses (adding two Toronto patients: the Toronto patient of
patients.demo has an expired screening, which is her point). Every session is
booked, started, charted, signed, cancelled or missed through sessions.services,
by whoever would do it at the clinic.

The past cannot be booked (book_session allows 15 minutes' grace), a session
is started on its own day only, and a signed session never changes. So a
session of an earlier day is booked for now, at a time today when its
therapist and patient are free (`staging_slot`), started and charted at once
(the needles "out" as soon as they are charted), then moved back to its day by
`move_back` (demo only: no service moves a session) and signed last: its
signature is dated when the demo was loaded, everything else, the needling's
end included, reads as on its day. So the check-ins count from the needling on
that day, as for a chart signed late.

Idempotent: each session carries a submission key made from its name, and one
the demo already has is left as it is, so a second run adds nothing. The week
is the one around the first run; a fresh database gives a fresh week.
"""

import datetime
import uuid
from dataclasses import dataclass

import pghistory
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from clinics import services as clinic_services
from clinics.demo import CREDENTIAL_DAYS_LEFT
from clinics.models import Clinic, Membership, Role
from patients import services as patient_services
from patients.models import Patient
from sessions import services
from sessions.models import (
    HOLDS_THE_SLOT,
    AdverseEvent,
    AppointmentType,
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
from sessions.services.schedule import create_appointment_type
from sessions.services.templates import create_chart_template

DEMO = "Fascia Demo Physiotherapy"
HARBOURSIDE = "Harbourside Needling Co."

RECALLED_LOT = "DN2409-117"
"""Needles of this lot went into several patients at both demo sites: search it in a recall."""
OTHER_LOT = "DN2411-052"

BOOKED_AHEAD = datetime.timedelta(days=3)
STARTED_AFTER = datetime.timedelta(minutes=2)
NEEDLED_FOR = datetime.timedelta(minutes=20)
"""From the start to the last needle out, in a session of an earlier day as moved back."""
LATEST_HALF_HOUR = datetime.time(23, 0)
"""Today's sessions are placed around the half hour before now, but no later than this: the
half hour after the session in progress stays on today, free to stage a session in
(aftercare.demo stages Emma's session of yesterday there when she is in her session now)."""

KEYS = uuid.UUID("5a1e0d3c-9b0f-4f8e-a6a4-6d656d6f0001")
"""Namespace of the demo sessions' submission keys."""

ORGANIZATIONS = {"Kelowna": DEMO, "Toronto": DEMO, "Halifax": HARBOURSIDE}
ADMINS = {DEMO: "admin@demo.fascia.test", HARBOURSIDE: "admin@harbourside.fascia.test"}
# Who books (and cancels) at each site, and who treats there.
DESKS = {
    "Kelowna": "frontdesk@demo.fascia.test",
    "Toronto": "manager@demo.fascia.test",
    "Halifax": "therapist@harbourside.fascia.test",
}
THERAPISTS = {
    "Kelowna": "therapist@demo.fascia.test",
    "Toronto": "therapist2@demo.fascia.test",
    "Halifax": "therapist@harbourside.fascia.test",
}


NEEDLES = {
    # muscle: needle length (mm), depth (mm), gauge (mm), technique, retention (minutes)
    "upper-trapezius": (30, "15", "0.25", "pistoning", 0),
    "levator-scapulae": (40, "20", "0.25", "pistoning", 0),
    "obliquus-capitis-inferior": (30, "10", "0.20", "pistoning", 0),
    "quadratus-lumborum": (60, "45", "0.30", "pistoning", 0),
    "lumbar-multifidus": (50, "40", "0.30", "pistoning", 0),
    "gluteus-medius": (50, "35", "0.30", "static", 10),
    "piriformis": (75, "55", "0.30", "pistoning", 0),
    "infraspinatus": (40, "20", "0.25", "pistoning", 0),
    "teres-minor": (40, "20", "0.25", "pistoning", 0),
    "supraspinatus": (40, "18", "0.25", "pistoning", 0),
    "rhomboids": (30, "12", "0.25", "pistoning", 0),
    "tensor-fasciae-latae": (50, "30", "0.30", "pistoning", 0),
    "vastus-lateralis": (60, "40", "0.30", "electrical", 15),
    "soleus": (50, "30", "0.30", "pistoning", 0),
    "abductor-hallucis": (30, "10", "0.25", "pistoning", 0),
}
"""The needle each demo therapist uses for a muscle, and how."""


@dataclass(frozen=True)
class Notes:
    """What the therapist charted: notes, pain before and after, and the chart's rows."""

    pain: tuple[int, int | None]
    subjective: str
    assessment: str = ""
    sites: tuple = ()  # (muscle, side, needles) or (muscle, side, needles, lot)
    rom: tuple = ()  # (joint, movement, side, degrees)
    ppt: tuple = ()  # (site, side, kg/cm²)
    adverse: tuple = ()  # (kind, severity, action taken)
    template: str = ""
    addendum: str = ""


@dataclass(frozen=True)
class Visit:
    key: str
    """Names the session: its submission key is made from it."""
    clinic: str
    patient: str
    day: int = 0
    """Days from today, on the clinic's clock."""
    at: datetime.time | None = None
    """The clock time; None for today's, which are `from_now` minutes from the half hour."""
    from_now: int = 0
    outcome: str = Status.BOOKED
    notes: Notes | None = None
    reason: str = ""
    """Why it was cancelled or missed."""
    needling: bool = True
    """False for manual therapy, exercise or education only."""


def signed(key: str, clinic: str, patient: str, day: int, at: str, **notes) -> Visit:
    clock = datetime.time.fromisoformat(at)
    return Visit(key, clinic, patient, day, clock, outcome=Status.SIGNED, notes=Notes(**notes))


def booked(key: str, clinic: str, patient: str, day: int = 0, at: str = "", **more) -> Visit:
    clock = datetime.time.fromisoformat(at) if at else None
    return Visit(key, clinic, patient, day, clock, **more)


K, T, H = "Kelowna", "Toronto", "Halifax"
EMMA, WALTER, NOAH, LILY = "Emma Clarke", "Walter Brooks", "Noah Fischer", "Lily Tremblay"
HIROSHI, AMARA, SOFIA, AIDAN = "Hiroshi Tanaka", "Amara Osei", "Sofia Alvarez", "Aidan MacLeod"
APIXABAN = "On apixaban: few needles, firm pressure on every site, ice at hand. GP agreed."
PNEUMOTHORAX = (
    "Sharp chest pain and shortness of breath 20 minutes after needling. Called 911; taken to "
    "emergency for a chest X-ray."
)

WEEK = [
    # Kelowna: Emma's neck; Walter's back (on blood thinners: a reason to proceed each time).
    signed("emma-1", K, EMMA, -6, "09:00", pain=(7, 5), subjective="Headaches most afternoons.",
           template="Neck and shoulder",
           sites=(("upper-trapezius", "right", 2), ("levator-scapulae", "right", 1)),
           rom=(("cervical_spine", "rotation", "left", 55),),
           ppt=(("Upper trapezius", "right", "2.1"),)),
    signed("walter-1", K, WALTER, -5, "10:00", pain=(8, 6), template="Low back",
           subjective="Cannot garden for more than 20 minutes.",
           sites=(("quadratus-lumborum", "right", 2), ("gluteus-medius", "right", 2)),
           rom=(("lumbar_spine", "flexion", "none", 60),)),
    signed("emma-2", K, EMMA, -4, "09:00", pain=(5, 3),
           subjective="Two headaches since, shorter.", assessment="Fewer active trigger points.",
           sites=(("upper-trapezius", "right", 2), ("upper-trapezius", "left", 1, OTHER_LOT)),
           rom=(("cervical_spine", "rotation", "left", 62),),
           ppt=(("Upper trapezius", "right", "2.8"),)),
    signed("walter-2", K, WALTER, -3, "10:00", pain=(6, 4),
           subjective="Gardened for an hour on Sunday.", assessment="Improving; multifidus tender.",
           sites=(("quadratus-lumborum", "right", 2), ("lumbar-multifidus", "right", 1, OTHER_LOT)),
           adverse=(("bruising", "mild", "Firm pressure for five minutes and an ice pack. Told him "
                     "a bruise may last a week on apixaban."),)),
    signed("emma-3", K, EMMA, -2, "09:30", pain=(4, 2),
           subjective="One mild headache this week.", assessment="Suboccipitals now lead.",
           sites=(("upper-trapezius", "right", 1),
                  ("obliquus-capitis-inferior", "both", 2, OTHER_LOT)),
           rom=(("cervical_spine", "rotation", "left", 70),),
           addendum="She phoned the next day: sore for a day, gone by 48 hours."),
    signed("walter-3", K, WALTER, -1, "10:30", pain=(5, 3),
           subjective="Sleeps through the night again.", assessment="Gluteal points remain.",
           sites=(("gluteus-medius", "right", 2), ("piriformis", "right", 1)),
           ppt=(("Gluteus medius", "right", "3.4"),)),
    booked("noah-today", K, NOAH, from_now=-180, outcome=Status.NO_SHOW,
           reason="No answer on his phone; left a message."),
    booked("walter-today", K, WALTER, from_now=-90),
    booked("emma-today", K, EMMA, from_now=0, outcome=Status.IN_PROGRESS,
           notes=Notes(pain=(3, None), subjective="No headaches; stiff after a long drive.",
                       sites=(("upper-trapezius", "right", 1),))),
    booked("lily-next", K, LILY, 1, "15:00", outcome=Status.CANCELLED,
           reason="Under 12: no dry needling. Her mother was told; manual therapy instead."),
    booked("lily-physio", K, LILY, 1, "16:00", needling=False),
    booked("walter-next", K, WALTER, 2, "10:00"),
    booked("emma-next", K, EMMA, 3, "09:00"),
    booked("noah-next", K, NOAH, 3, "11:00"),
    # Toronto: Hiroshi's shoulder (a suspected pneumothorax awaits review); Amara's hip.
    signed("hiroshi-1", T, HIROSHI, -5, "11:00", pain=(6, 4),
           subjective="Pain on every stroke after 500 m.", assessment="Rotator cuff points.",
           sites=(("infraspinatus", "right", 2), ("teres-minor", "right", 1)),
           rom=(("shoulder", "external_rotation", "right", 70),)),
    signed("amara-1", T, AMARA, -4, "16:00", pain=(7, 5),
           subjective="Stopped after 4 km on Saturday.", assessment="Gluteus medius and TFL.",
           sites=(("gluteus-medius", "left", 2), ("tensor-fasciae-latae", "left", 2, OTHER_LOT)),
           rom=(("hip", "internal_rotation", "left", 30),)),
    signed("hiroshi-2", T, HIROSHI, -3, "11:00", pain=(5, 3),
           subjective="Swam 1.5 km with little pain.", assessment="Supraspinatus now tender.",
           sites=(("infraspinatus", "right", 2), ("supraspinatus", "right", 1)),
           rom=(("shoulder", "external_rotation", "right", 80),),
           ppt=(("Infraspinatus", "right", "3.0"),)),
    signed("amara-2", T, AMARA, -2, "16:00", pain=(5, 3),
           subjective="Ran 6 km, mild pain at the end.", assessment="Vastus lateralis band.",
           sites=(("vastus-lateralis", "left", 3), ("gluteus-medius", "left", 2)),
           ppt=(("Vastus lateralis", "left", "4.2"),)),
    signed("hiroshi-3", T, HIROSHI, -1, "11:30", pain=(4, 3),
           subjective="Pain between the shoulder blades.", assessment="Rhomboids; slender build.",
           sites=(("rhomboids", "right", 2, OTHER_LOT),),
           adverse=(("pneumothorax", "moderate", PNEUMOTHORAX),)),
    booked("sofia-today", T, SOFIA, from_now=-120),  # her screening has expired: the gate says so
    booked("amara-today", T, AMARA, from_now=-60),
    booked("hiroshi-today", T, HIROSHI, from_now=60),
    booked("amara-next", T, AMARA, 1, "16:00"),
    # Harbourside: the recalled lot number too, which the demo organisation never sees.
    signed("aidan-1", H, AIDAN, -3, "13:00", pain=(6, 4), subjective="Worst on the first steps.",
           sites=(("soleus", "left", 2), ("abductor-hallucis", "left", 1))),
    signed("aidan-2", H, AIDAN, -1, "13:00", pain=(5, 3), subjective="Walks the dog pain-free.",
           sites=(("soleus", "left", 2),)),
    booked("aidan-next", H, AIDAN, 2, "13:00"),
]  # fmt: skip
"""The week: a signed chart's pain falls session by session, so the progress chart has a shape."""

COMPLAINTS = {
    EMMA: "Neck and shoulder pain from desk work, worse by the end of the day",
    WALTER: "Lower back pain after gardening, into the right buttock",
    HIROSHI: "Right shoulder pain when swimming front crawl",
    AMARA: "Lateral left hip and thigh pain on runs over 5 km",
    AIDAN: "Plantar heel pain, worst on the first steps in the morning",
}

TEMPLATES = [
    {
        "name": "Neck and shoulder",
        "findings": "Palpation: taut bands and trigger points in the upper trapezius and "
        "levator scapulae. Cervical rotation measured.",
        "assessment": "Myofascial neck pain with referred headache.",
        "plan": "Dry needling weekly for three sessions; chin tucks and upper trapezius "
        "stretches twice a day.",
    },
    {
        "name": "Low back",
        "findings": "Palpation: trigger points in quadratus lumborum and the gluteals. "
        "Lumbar flexion measured.",
        "assessment": "Myofascial low back pain.",
        "plan": "Dry needling twice a week for two weeks; walking daily, hip hinge practice.",
    },
]

TORONTO_PATIENTS = [
    {
        "first_name": "Hiroshi",
        "last_name": "Tanaka",
        "date_of_birth": datetime.date(1996, 3, 14),
        "phone": "+1 416 555 0139",
        "pain": ["shoulder"],
        "activity": "active",
    },
    {
        "first_name": "Amara",
        "last_name": "Osei",
        "date_of_birth": datetime.date(1983, 9, 27),
        "phone": "+1 416 555 0176",
        "pain": ["hip", "thigh"],
        "activity": "active",
    },
]


APPOINTMENT_TYPES = [
    {"name": "Initial assessment with needling", "minutes": 60, "colour": "#2f6f8f"},
    {"name": "Follow-up with needling", "minutes": 30, "colour": "#3f8f5f"},
    {
        "name": "Manual therapy",
        "minutes": 45,
        "needling": False,
        "colour": "#8f6f2f",
        "bookable_online": True,
    },
    {
        "name": "Exercise review",
        "minutes": 30,
        "needling": False,
        "colour": "#6f4f8f",
        "bookable_online": True,
    },
]


def load() -> list[tuple[str, str]]:
    """Write the demo week; no new logins, so nothing to print."""
    demo = Clinic.objects.get(organization__name=DEMO, name="Kelowna").organization
    olivia = User.objects.get(email="admin@demo.fascia.test")
    daniel = User.objects.get(email=THERAPISTS["Toronto"])
    toronto = Clinic.objects.get(organization=demo, name="Toronto")
    for spec in TORONTO_PATIENTS:
        _ready_patient(toronto, by=daniel, complaint=COMPLAINTS[_name(spec)], **spec)
    templates = {}
    for spec in TEMPLATES:
        template = ChartTemplate.objects.filter(organization=demo, name=spec["name"]).first()
        templates[spec["name"]] = template or create_chart_template(
            organization=demo, by=olivia, **spec
        )
    for spec in APPOINTMENT_TYPES:
        if not AppointmentType.objects.filter(organization=demo, name=spec["name"]).exists():
            create_appointment_type(organization=demo, by=olivia, **spec)
    if not OrganizationMuscle.objects.filter(
        organization=demo, code="obliquus-capitis-inferior"
    ).exists():
        services.add_muscle(
            organization=demo,
            by=olivia,
            name="Obliquus capitis inferior",
            region="head_neck",
            pneumothorax_risk=False,
        )
    clinics = {
        name: Clinic.objects.select_related("organization").get(
            organization__name=organization, name=name
        )
        for name, organization in ORGANIZATIONS.items()
    }
    now = timezone.now()
    for visit in WEEK:
        clinic = clinics[visit.clinic]
        key = uuid.uuid5(KEYS, visit.key)
        if TreatmentSession.objects.filter(
            organization=clinic.organization, submission_key=key
        ).exists():
            continue  # loaded before
        if visit.outcome in (Status.SIGNED, Status.IN_PROGRESS):
            _credential_current(clinic)
        _play(visit, clinic, key, templates, now)
    return []


def load_working_hours() -> list[tuple[str, str]]:
    """The last demo loader (after aftercare.demo, which stages a session of its own): each
    site's therapist's working hours. Bookings made before stay where they are: the demo
    stages past sessions at whatever hour of the day it is loaded, which working hours
    would refuse (at lunch, in the evening, on a Sunday)."""
    for name, organization in ORGANIZATIONS.items():
        clinic = Clinic.objects.get(organization__name=organization, name=name)
        _working_hours(clinic, therapist=User.objects.get(email=THERAPISTS[name]))
    return []


DEMO_HOURS = [
    *[(weekday, "08:00", "12:30") for weekday in range(5)],
    *[(weekday, "13:00", "18:00") for weekday in range(5)],
    (5, "09:00", "13:00"),
]
"""Each site's therapist: weekdays with a half-hour lunch, and Saturday mornings."""


def _working_hours(clinic: Clinic, *, therapist: User) -> None:
    """Record the demo hours once, after the week: bookings already made stay where they
    are (the demo books some at any hour of the day it is loaded)."""
    if WorkingHours.objects.filter(clinic=clinic, therapist=therapist).exists():
        return
    manager = User.objects.get(email=ADMINS[clinic.organization.name])
    for weekday, starts, ends in DEMO_HOURS:
        services.add_working_hours(
            clinic=clinic,
            therapist=therapist,
            weekday=weekday,
            starts=datetime.time.fromisoformat(starts),
            ends=datetime.time.fromisoformat(ends),
            by=manager,
        )


def _credential_current(clinic: Clinic) -> None:
    """The site's demo therapist holds a current credential, so their sessions can start.

    clinics.demo records it when it adds the role; a database loaded by an
    older demo (no credential) or long ago (expired) gets it recorded again,
    through the service, by the organisation's admin.
    """
    role = Membership.objects.select_related("user").get(
        organization=clinic.organization,
        clinic=clinic,
        user__email=THERAPISTS[clinic.name],
        role=Role.THERAPIST,
    )
    today = timezone.localdate(timezone=clinic.zone)
    if role.credential_expires_on is not None and role.credential_expires_on >= today:
        return
    days = CREDENTIAL_DAYS_LEFT.get(role.user.email, 400)
    clinic_services.record_credential(
        membership=role,
        by=User.objects.get(email=ADMINS[clinic.organization.name]),
        credential=role.credential or f"Dry needling certificate ({role.user.get_full_name()})",
        expires_on=today + datetime.timedelta(days=days),
    )


def _name(spec: dict) -> str:
    return f"{spec['first_name']} {spec['last_name']}"


def _ready_patient(clinic: Clinic, *, by, complaint: str, pain, activity, **details) -> None:
    """A patient screened (nothing flagged) and consented, as the therapist would make them."""
    organization = clinic.organization
    if Patient.objects.filter(
        organization=organization,
        first_name=details["first_name"],
        last_name=details["last_name"],
    ).exists():
        return
    patient = patient_services.register_patient(home_clinic=clinic, by=by, **details)
    patient_services.save_intake(
        patient=patient,
        by=by,
        presenting_complaint=complaint,
        pain_areas=pain,
        activity_level=activity,
        goals="Back to training without pain.",
    )
    questionnaire = patient_services.current_questionnaire(organization)
    patient_services.submit_screening(
        patient=patient,
        by=by,
        answers={question: False for question in questionnaire.questions.all()},
    )
    patient_services.sign_consent(
        patient=patient,
        by=by,
        template=patient_services.current_consent_template(organization),
        signer_name=patient.full_name,
    )


def _when(visit: Visit, clinic: Clinic, now: datetime.datetime) -> datetime.datetime:
    if visit.at is not None:
        day = timezone.localdate(now, timezone=clinic.zone) + datetime.timedelta(days=visit.day)
        return datetime.datetime.combine(day, visit.at, tzinfo=clinic.zone)
    local = timezone.localtime(now, clinic.zone)
    half_hour = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
    latest = datetime.datetime.combine(local.date(), LATEST_HALF_HOUR, tzinfo=clinic.zone)
    # Minutes from the half hour are real minutes (in UTC), on the night the clocks change too.
    base = min(half_hour, latest).astimezone(datetime.UTC)
    return base + datetime.timedelta(minutes=visit.from_now)


def staging_slot(
    clinic: Clinic,
    *,
    therapist: User,
    patient: Patient,
    length: datetime.timedelta = services.DEFAULT_LENGTH,
) -> datetime.datetime:
    """Demo only: when to book a session of another day to start and chart it now.

    The first time from this minute on, on today's date at the clinic, when
    neither the therapist nor the patient has a session: a session is
    started on its own day only, and the booking takes no time more than 15
    minutes past. Without one today, this minute (booking then names what is
    in the way).
    """
    now = timezone.now().replace(second=0, microsecond=0)
    start = now
    taken = (
        TreatmentSession.objects.filter(
            Q(therapist=therapist) | Q(patient=patient),
            organization=clinic.organization,
            status__in=HOLDS_THE_SLOT,
            ends_at__gt=start,
        )
        .order_by("starts_at")
        .values_list("starts_at", "ends_at")
    )
    for other_starts_at, other_ends_at in taken:
        if other_starts_at >= start + length:
            break
        start = max(start, other_ends_at)
    today = timezone.localdate(now, timezone=clinic.zone)
    return start if timezone.localdate(start, timezone=clinic.zone) == today else now


def _play(visit: Visit, clinic: Clinic, key: uuid.UUID, templates: dict, now) -> None:
    """Book the visit, and take it as far as its outcome through the services."""
    desk = User.objects.get(email=DESKS[visit.clinic])
    therapist = User.objects.get(email=THERAPISTS[visit.clinic])
    first, last = visit.patient.split(" ", 1)
    patient = Patient.objects.get(
        organization=clinic.organization, first_name=first, last_name=last
    )
    starts_at = _when(visit, clinic, now)
    in_the_past = starts_at <= now or visit.outcome in (Status.SIGNED, Status.IN_PROGRESS)
    session = services.book_session(
        clinic=clinic,
        therapist=therapist,
        patient=patient,
        starts_at=staging_slot(clinic, therapist=therapist, patient=patient)
        if in_the_past
        else starts_at,
        by=desk,
        needling=visit.needling,
        submission_key=key,
    )
    if visit.outcome == Status.CANCELLED:
        services.cancel_session(session=session, by=desk, reason=visit.reason)
        return
    if visit.outcome in (Status.SIGNED, Status.IN_PROGRESS):
        session = services.start_session(
            session=session,
            by=therapist,
            override_reason=APIXABAN if visit.patient == WALTER else "",
        )
        _chart(session, therapist, visit, templates)
    if in_the_past:
        session = move_back(session, starts_at=starts_at)
    if visit.outcome == Status.NO_SHOW:
        services.mark_no_show(session=session, by=desk, reason=visit.reason)
    if visit.outcome == Status.SIGNED:
        session = services.sign_session(session=session, by=therapist)
        if visit.notes.addendum:
            services.add_addendum(session=session, by=therapist, text=visit.notes.addendum)


def _chart(session: TreatmentSession, therapist, visit: Visit, templates: dict) -> None:
    notes = visit.notes
    chart = services.chart_of(session)
    if notes.template:
        chart = services.apply_template(
            session=session,
            by=therapist,
            template=templates[notes.template],
            expected_version=chart.version,
        )
    needles = sum(site[2] for site in notes.sites)
    signing = visit.outcome == Status.SIGNED
    services.save_chart(
        session=session,
        by=therapist,
        expected_version=chart.version,
        complaint=COMPLAINTS[visit.patient],
        subjective_notes=notes.subjective,
        **({"assessment": notes.assessment} if notes.assessment else {}),
        pain_before=notes.pain[0],
        pain_after=notes.pain[1],
        needles_inserted=needles,
        # A draft has needles in: they come out before it is signed, and the end is charted.
        needles_removed=needles if signing else 0,
        **({"needling_ended_at": timezone.now()} if signing else {}),
    )
    for muscle, side, count, *lot in notes.sites:
        length, depth, gauge, technique, retention = NEEDLES[muscle]
        services.add_needle_site(
            session=session,
            by=therapist,
            muscle=muscle,
            side=side,
            needles=count,
            needle_length_mm=length,
            needle_gauge_mm=gauge,
            depth_mm=depth,
            technique=technique,
            twitch_response="many" if count > 1 else "some",
            lot_number=lot[0] if lot else RECALLED_LOT,
            retention_minutes=retention,
            risk_acknowledged=True,  # ticked by the therapist for the sites over the lung
        )
    for joint, movement, side, degrees in notes.rom:
        services.add_range_of_motion(
            session=session,
            by=therapist,
            joint=joint,
            movement=movement,
            side=side,
            degrees=degrees,
        )
    for where, side, kg_per_cm2 in notes.ppt:
        services.add_pressure_pain_threshold(
            session=session, by=therapist, site=where, side=side, kg_per_cm2=kg_per_cm2
        )
    for kind, severity, action_taken in notes.adverse:
        services.add_adverse_event(
            session=session, by=therapist, kind=kind, severity=severity, action_taken=action_taken
        )


def move_back(session: TreatmentSession, *, starts_at: datetime.datetime) -> TreatmentSession:
    """Demo only: move a session that is not signed, and what was charted in it, to `starts_at`.

    No service does this: a real session is booked ahead and charted as it
    happens. The demo books a past day's session for now (`staging_slot`),
    starts and charts it at once, and moves it back here before signing it,
    since the database refuses any change to a signed session. Its start, its
    chart's rows and its override keep their distance from each other; a
    needling's end charted moves to NEEDLED_FOR after the start; it reads as
    booked three days before. The history keeps the move, marked as the demo's.
    """
    session = TreatmentSession.objects.get(pk=session.pk)
    if session.status == Status.SIGNED:
        raise ValueError("A signed session never moves: move it before signing.")
    starts_at = starts_at.astimezone(datetime.UTC)  # lengths in real minutes
    moved = {
        "starts_at": starts_at,
        "ends_at": starts_at + (session.ends_at - session.starts_at),
        "booked_at": starts_at - BOOKED_AHEAD,
    }
    with pghistory.context(demo="moved back to its day by sessions.demo"):
        if session.started_at is not None:
            shift = starts_at + STARTED_AFTER - session.started_at
            moved["started_at"] = session.started_at + shift
            rows = {"session": session}
            Chart.objects.filter(**rows).update(updated_at=F("updated_at") + shift)
            Chart.objects.filter(needling_ended_at__isnull=False, **rows).update(
                needling_ended_at=moved["started_at"] + NEEDLED_FOR
            )
            ContraindicationOverride.objects.filter(**rows).update(
                recorded_at=F("recorded_at") + shift
            )
            for model in (NeedleSite, RangeOfMotion, PressurePainThreshold, AdverseEvent):
                model.objects.filter(**rows).update(recorded_at=F("recorded_at") + shift)
            NeedleSite.objects.filter(risk_acknowledged_at__isnull=False, **rows).update(
                risk_acknowledged_at=F("risk_acknowledged_at") + shift
            )
        TreatmentSession.objects.filter(pk=session.pk).exclude(status=Status.SIGNED).update(**moved)
    session.refresh_from_db()
    return session
