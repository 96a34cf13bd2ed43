"""`manage.py seed_bench`: a clinic network's worth of data, for benchmarks (issue 16).

Each app seeds its own tables, in dependency order (settings.FASCIA_BENCH_SEEDERS,
wired by config as the demo loaders are), each handed the same `Seeding`: the
sizes, one random generator (the same seed, the same data), the moment it runs
as, what the apps below wrote that the ones above need (clinics, therapists,
patients), and a count of the rows written. The few organisations and clinics
are made through the ORM; every other row goes in through clinics.bulk, by COPY
from Python (`write`) or set-wise from the rows already loaded (`write_select`).
"""

import dataclasses
import datetime
import random
import uuid
from collections.abc import Callable

from django.contrib.auth.hashers import make_password

from accounts.models import User
from clinics import bulk
from clinics.models import Clinic, Membership, Organization, Role

DEFAULT_SIZES = {
    "organizations": 5,
    "clinics": 50,
    "therapists": 500,
    "patients": 200_000,
    "sessions": 2_000_000,
}
YEARS = 3
"""How far back the signed sessions go."""
PASSWORD = "fascia-bench-2026"  # noqa: S105 (published, like the demo's)
"""Every seeded login's password: a benchmark's database, never a clinic's."""
ZONES = [
    "America/Vancouver",
    "America/Edmonton",
    "America/Toronto",
    "America/Halifax",
    "America/St_Johns",
]
FIRST_NAMES = [
    *("Nathan", "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Chloe"),
    *("Mateo", "Zoe", "Arjun", "Priya", "Wei", "Mei", "Omar", "Layla", "Jacob", "Sofia"),
    *("Benjamin", "Amelia", "Samuel", "Harper", "Gabriel", "Nora", "Elijah", "Léa", "Félix"),
    *("Chantal", "Aiden", "Isla", "Kai", "Aria", "Hiroshi", "Yuki", "Tariq", "Fatima"),
]
LAST_NAMES = [
    *("Howe", "Smith", "Tremblay", "Martin", "Roy", "Gagnon", "Lee", "Wilson", "Johnson"),
    *("MacDonald", "Taylor", "Campbell", "Anderson", "Brown", "Singh", "Patel", "Nguyen"),
    *("Chen", "Wong", "Kim", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie", "Fortin"),
    *("Clarke", "Morgan", "Fraser", "Stewart", "Reid", "Murray", "Ali", "Khan", "Ahmed"),
]


@dataclasses.dataclass
class SeededClinic:
    clinic: Clinic
    therapists: list[User]
    desk: User
    patients: list[uuid.UUID] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Seeding:
    """What every app's seeder shares."""

    scale: float
    seed: int
    now: datetime.datetime
    progress: Callable[[str, int, int], None]
    """(what, done, total): called as rows are written."""
    rng: random.Random = dataclasses.field(init=False)
    clinics: list[SeededClinic] = dataclasses.field(default_factory=list)
    organizations: list[Organization] = dataclasses.field(default_factory=list)
    written: dict[str, int] = dataclasses.field(default_factory=dict)
    password_hash: str = ""
    staff: list[tuple] = dataclasses.field(default_factory=list)
    """(user, membership) rows of the staff, written together once all are made."""

    def __post_init__(self):
        self.rng = random.Random(self.seed)  # noqa: S311 (repeatable data, no secret)

    def size(self, what: str) -> int:
        return max(1, round(DEFAULT_SIZES[what] * self.scale))

    def write(self, model, columns, rows) -> int:
        written = bulk.insert(model, columns, rows)
        self.count(model, written)
        return written

    def write_select(self, model, columns, select: str, params) -> int:
        written = bulk.insert_select(model, columns, select, params)
        self.count(model, written)
        return written

    def count(self, model, number: int) -> None:
        label = model._meta.verbose_name_plural
        self.written[label] = self.written.get(label, 0) + number

    def name(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def new_id(self) -> uuid.UUID:
        """A random uuid drawn from the seed: the same seed, the same ids."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def login(self, user_id: uuid.UUID, email: str, full_name: str, joined) -> tuple:
        """A user's row for `write_logins`, with the seeding's password."""
        return (user_id, email, full_name, self.password_hash, True, False, False, joined)

    def write_logins(self, rows) -> int:
        return self.write(User, LOGIN_COLUMNS, rows)


LOGIN_COLUMNS = [
    *("id", "email", "full_name", "password", "is_active", "is_staff", "is_superuser"),
    "date_joined",
]


def seed(seeding: Seeding) -> None:
    """The organisations, each with its clinics, and at each clinic its therapists, a front
    desk and a manager; an admin per organisation. At least one of each at any scale."""
    seeding.password_hash = make_password(PASSWORD)
    organizations = seeding.size("organizations")
    clinics = max(organizations, seeding.size("clinics"))
    therapists = max(clinics, seeding.size("therapists"))
    for number in range(organizations):
        organization = Organization.objects.create(name=f"Bench Physio {number + 1:02d}")
        seeding.organizations.append(organization)
        seeding.count(Organization, 1)
        _person(seeding, organization, None, Role.ORG_ADMIN, f"admin{number + 1:02d}")
    for number in range(clinics):
        organization = seeding.organizations[number % organizations]
        clinic = Clinic.objects.create(
            organization=organization,
            name=f"Site {number + 1:02d}",
            address=f"{100 + number} Main Street",
            phone=f"+1 250 555 {number:04d}",
            timezone=ZONES[number % len(ZONES)],
        )
        seeding.count(Clinic, 1)
        label = f"site{number + 1:02d}"
        desk = _person(seeding, organization, clinic, Role.FRONT_DESK, f"desk.{label}")
        _person(seeding, organization, clinic, Role.CLINIC_MANAGER, f"manager.{label}")
        seeding.clinics.append(SeededClinic(clinic=clinic, therapists=[], desk=desk))
    for number in range(therapists):
        place = seeding.clinics[number % clinics]
        therapist = _person(
            seeding,
            place.clinic.organization,
            place.clinic,
            Role.THERAPIST,
            f"therapist{number + 1:03d}",
            credential_expires_on=seeding.now.date() + datetime.timedelta(days=365),
        )
        place.therapists.append(therapist)
    users, memberships = zip(*seeding.staff, strict=True)
    seeding.write_logins(users)
    seeding.write(
        Membership,
        [
            *("id", "organization_id", "user_id", "clinic_id", "role", "credential"),
            *("credential_expires_on", "created_at"),
        ],
        memberships,
    )


def _person(seeding, organization, clinic, role, label, credential_expires_on=None) -> User:
    first, last = seeding.name()
    user = User(
        id=seeding.new_id(),
        email=f"{label}@{_domain(organization)}",
        full_name=f"{first} {last}",
    )
    credential = "Dry needling certificate" if credential_expires_on else ""
    membership = (
        *(seeding.new_id(), organization.pk, user.pk, clinic.pk if clinic else None, role),
        *(credential, credential_expires_on, seeding.now),
    )
    seeding.staff.append(
        (seeding.login(user.pk, user.email, user.full_name, seeding.now), membership)
    )
    return user


def _domain(organization: Organization) -> str:
    return organization.name.lower().replace(" ", "-") + ".bench.test"
