"""`manage.py seed_bench`: three years of signed sessions with their charts and needle sites,
and the coming month's bookings (clinics.bench says how).

Each clinic's share of the sessions is spread over the weekdays of the last
three years up to yesterday (on its clock), its therapists taking turns through
the day's hourly slots; the patients of one slot all differ, as the database
demands. Each session is signed twenty minutes after it ends, with a chart
(pain before and after, the SOAP notes) and two to four needle sites. The
bookings fill the weekdays of the next month, from tomorrow, fewer the further
ahead.
"""

import datetime
import math
from decimal import Decimal

from django.utils import timezone

from clinics.bench import YEARS, Seeding
from sessions.models import Chart, Muscle, NeedleSite, TreatmentSession

LENGTH = datetime.timedelta(minutes=45)
SLOTS = [datetime.time(hour) for hour in (8, 9, 10, 11, 13, 14, 15, 16)]
BATCH = 5_000
BOOKED_DAYS = 31
"""Bookings from tomorrow on, for this many days."""
COMPLAINTS = [
    "Neck pain after long hours at the desk",
    "Low back pain, worse in the morning",
    "Shoulder pain reaching overhead",
    "Tension headaches",
    "Hamstring tightness after running",
]
NOTES = ["Better since last visit.", "Unchanged.", "Worse after a long drive.", "Slept better."]
FINDINGS = ["Taut band with local tenderness.", "Reduced range, trigger point reproduces pain."]
ASSESSMENTS = ["Myofascial pain, improving.", "Myofascial pain, as before."]
PLANS = ["Continue weekly.", "Review in two weeks.", "Home exercises, then review."]


def seed(seeding: Seeding) -> None:
    total = seeding.size("sessions")
    muscles = list(Muscle.objects.values_list("id", "name", "pneumothorax_risk"))
    made = 0
    batch: list = []
    for number, place in enumerate(seeding.clinics):
        days = _weekdays_back(seeding, place.clinic)
        share = total * (number + 1) // len(seeding.clinics) - total * number // len(
            seeding.clinics
        )
        per_day = min(math.ceil(share / len(days)), len(place.therapists) * len(SLOTS))
        left = share
        for day in days:
            if left <= 0:
                break
            today = min(per_day, left)
            left -= today
            batch += _slots(seeding, place, day, today)
            if len(batch) >= BATCH:
                made += _write(seeding, batch, muscles)
                seeding.progress("signed sessions", made, total)
                batch = []
    if batch:
        made += _write(seeding, batch, muscles)
        seeding.progress("signed sessions", made, total)
    _bookings(seeding, total / len(_weekdays_back(seeding, seeding.clinics[0].clinic)))


def _weekdays_back(seeding: Seeding, clinic) -> list[datetime.date]:
    """The weekdays of the last three years up to yesterday, on the clinic's clock: each
    signed session is over, whatever the hour the seeding runs at."""
    yesterday = timezone.localdate(seeding.now, clinic.zone) - datetime.timedelta(days=1)
    back = (yesterday - datetime.timedelta(days=n) for n in range(YEARS * 365))
    return [day for day in back if day.weekday() < 5]


def _slots(seeding: Seeding, place, day: datetime.date, count: int) -> list[tuple]:
    """`count` sessions of `place` on `day`: (place, therapist, patient, starts_at), its
    therapists taking turns through the day's slots, the patients of a slot all different."""
    sessions = []
    for slot in range(min(len(SLOTS), math.ceil(count / len(place.therapists)))):
        working = place.therapists[: min(len(place.therapists), count)]
        count -= len(working)
        starts_at = datetime.datetime.combine(day, SLOTS[slot], tzinfo=place.clinic.zone)
        patients = seeding.rng.sample(place.patients, min(len(working), len(place.patients)))
        sessions += [
            (place, therapist, patient, starts_at)
            for therapist, patient in zip(working, patients, strict=False)
        ]
    return sessions


def _bookings(seeding: Seeding, per_day: float) -> None:
    """The coming month's bookings, from tomorrow on the clinic's clock: the further ahead,
    the fewer (half a full day's at the end), as a diary fills up nearer the day."""
    rows = []
    for place in seeding.clinics:
        tomorrow = timezone.localdate(seeding.now, place.clinic.zone) + datetime.timedelta(1)
        days = [tomorrow + datetime.timedelta(days=n) for n in range(BOOKED_DAYS)]
        for ahead, day in enumerate(days):
            if day.weekday() >= 5:
                continue
            full = per_day / len(seeding.clinics) * (1 - ahead / len(days) / 2)
            for _, therapist, patient, starts_at in _slots(seeding, place, day, round(full)):
                booked_at = seeding.now - datetime.timedelta(days=seeding.rng.randrange(1, 30))
                rows.append(
                    (
                        *(seeding.new_id(), place.clinic.organization_id, place.clinic.pk),
                        *(patient, therapist.pk, starts_at, starts_at + LENGTH, "booked"),
                        *(booked_at, place.desk.pk, False, "", False, "", True, "", 1),
                    )
                )
    seeding.write(
        TreatmentSession,
        [
            *("id", "organization_id", "clinic_id", "patient_id", "therapist_id", "starts_at"),
            *("ends_at", "status", "booked_at", "booked_by_id", "booked_online"),
            *("cancellation_reason", "cancelled_late", "no_show_reason", "needling"),
            *("outside_hours_reason", "version"),
        ],
        rows,
    )
    seeding.progress("bookings", len(rows), len(rows))


def _write(seeding: Seeding, batch: list, muscles: list) -> int:
    rng = seeding.rng
    sessions, charts, sites = [], [], []
    for place, therapist, patient, starts_at in batch:
        clinic = place.clinic
        session = seeding.new_id()
        ends_at = starts_at + LENGTH
        sessions.append(
            (
                session,
                clinic.organization_id,
                clinic.pk,
                patient,
                therapist.pk,
                starts_at,
                ends_at,
                "signed",
                starts_at - datetime.timedelta(days=7),
                place.desk.pk,
                False,
                "",
                False,
                "",
                starts_at,
                therapist.pk,
                ends_at + datetime.timedelta(minutes=20),
                therapist.pk,
                True,
                "",
                3,
            )
        )
        needled = rng.choice((2, 3, 3, 4))
        inserted = 0
        for site in range(needled):
            muscle, name, risky = rng.choice(muscles)
            recorded_at = starts_at + datetime.timedelta(minutes=5 + 3 * site)
            needles = rng.randint(1, 3)
            inserted += needles
            length = rng.choice((30, 40, 50))
            sites.append(
                (
                    seeding.new_id(),
                    clinic.organization_id,
                    therapist.pk,
                    recorded_at,
                    session,
                    muscle,
                    name,
                    rng.choice(("left", "right", "both")),
                    needles,
                    length,
                    Decimal("0.30"),
                    Decimal(rng.randint(10, 2 * min(length, 45))) / 2,
                    rng.choice(("pistoning", "static", "rotation")),
                    rng.choice(("none", "some", "many")),
                    rng.choice((0, 0, 5, 10)),
                    f"LOT-{starts_at:%Y%m}",
                    risky,
                    recorded_at if risky else None,
                    therapist.pk if risky else None,
                )
            )
        before = rng.randint(3, 8)
        charts.append(
            (
                seeding.new_id(),
                clinic.organization_id,
                session,
                rng.choice(COMPLAINTS),
                before,
                rng.choice(NOTES),
                rng.choice(FINDINGS),
                rng.choice(ASSESSMENTS),
                rng.choice(PLANS),
                max(0, before - rng.randint(0, 3)),
                inserted,
                inserted,
                ends_at - datetime.timedelta(minutes=5),
                2 + needled,
                ends_at,
                therapist.pk,
                "",
            )
        )
    seeding.write(
        TreatmentSession,
        [
            *("id", "organization_id", "clinic_id", "patient_id", "therapist_id", "starts_at"),
            *("ends_at", "status", "booked_at", "booked_by_id", "booked_online"),
            *("cancellation_reason", "cancelled_late", "no_show_reason", "started_at"),
            *("started_by_id", "signed_at", "signed_by_id", "needling", "outside_hours_reason"),
            "version",
        ],
        sessions,
    )
    seeding.write(
        Chart,
        [
            *("id", "organization_id", "session_id", "complaint", "pain_before"),
            *("subjective_notes", "findings", "assessment", "plan", "pain_after"),
            *("needles_inserted", "needles_removed", "needling_ended_at", "version"),
            *("updated_at", "updated_by_id", "updated_from"),
        ],
        charts,
    )
    seeding.write(
        NeedleSite,
        [
            *("id", "organization_id", "recorded_by_id", "recorded_at", "session_id"),
            *("muscle_id", "muscle_name", "side", "needles", "needle_length_mm"),
            *("needle_gauge_mm", "depth_mm", "technique", "twitch_response"),
            *("retention_minutes", "lot_number", "pneumothorax_risk", "risk_acknowledged_at"),
            "risk_acknowledged_by_id",
        ],
        sites,
    )
    return len(sessions)
