"""Named personas: a story reads better than a fixture list.

The world: "Kelowna Physio" (organisation) runs two clinics, Kelowna and
Vernon; "Harbourside" is another organisation with one clinic, Halifax.
"""

import io
import threading
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.test import Client, override_settings
from django.test.testcases import LiveServerThread

from accounts.models import User
from clinics import access, database_roles
from clinics.models import Clinic, Membership, Organization, Role
from patients.models import FhirExport, Patient, PatientImport, PatientImportFile
from patients.services import fhir_export, import_files
from patients.services.imports import import_patients
from tests.accounts.factories import UserFactory
from tests.clinics.factories import ClinicFactory, OrganizationFactory, staff
from tests.migrated_template import use_migrated_template
from tests.patients.factories import (
    PatientFactory,
    PatientRecord,
    full_record,
)
from tests.sessions.factories import ScheduleRecord, schedule_at

pytest_plugins = ["tests.browser"]


def pytest_addoption(parser):
    parser.addoption(
        "--write-query-budgets",
        action="store_true",
        help="measure every URL and write tests/config/query_budgets.json (make query-budgets)",
    )
    parser.addoption(
        "--write-screenshots",
        action="store_true",
        help="take the user guides' pictures into docs/guide/screenshots (make docs-screenshots)",
    )


@dataclass
class World:
    organization: Organization
    kelowna: Clinic
    vernon: Clinic
    org_admin: User
    manager: User
    therapist: User
    front_desk: User
    vernon_therapist: User
    other_organization: Organization
    halifax: Clinic
    other_admin: User
    other_therapist: User

    def staff_by_role(self) -> dict[str, User]:
        """One person per role of the first organisation, each working at Kelowna."""
        return {
            Role.ORG_ADMIN: self.org_admin,
            Role.CLINIC_MANAGER: self.manager,
            Role.THERAPIST: self.therapist,
            Role.FRONT_DESK: self.front_desk,
        }

    def other_membership(self) -> Membership:
        return Membership.objects.get(user=self.other_therapist)

    def other_record(self) -> PatientRecord:
        """Maren Halvorsen, of the other organisation, with one of every record (made once).

        Named, not generated: tests look for her name in what others receive, and a
        generated surname can be a word of the record's own text ("Sharp pain").
        """
        if not hasattr(self, "_other_record"):
            self._other_record = full_record(
                clinic=self.halifax,
                therapist=self.other_therapist,
                admin=self.other_admin,
                first_name="Maren",
                last_name="Halvorsen",
            )
        return self._other_record

    def other_schedule(self) -> ScheduleRecord:
        """Halifax's appointment type, a therapist's working hours and a day away (made once)."""
        if not hasattr(self, "_other_schedule"):
            self._other_schedule = schedule_at(self.halifax, admin=self.other_admin)
        return self._other_schedule

    def kelowna_record(self) -> PatientRecord:
        """Ada Quinn, a Kelowna patient with one of every record and a portal login (made once)."""
        if not hasattr(self, "_kelowna_record"):
            self._kelowna_record = full_record(
                clinic=self.kelowna,
                therapist=self.therapist,
                admin=self.org_admin,
                first_name="Ada",
                last_name="Quinn",
                email="ada@example.test",
            )
        return self._kelowna_record

    def other_import(self) -> PatientImport:
        """Two Halifax patients imported from another system by Harbourside's admin (made once)."""
        if not hasattr(self, "_other_import"):
            self._other_import = import_at(self.halifax, by=self.other_admin)
        return self._other_import

    def other_import_file(self) -> PatientImportFile:
        """A file listing Maren again, checked on Harbourside's import page (made once)."""
        if not hasattr(self, "_other_import_file"):
            self._other_import_file = import_file_of(self.other_record().patient)
        return self._other_import_file

    def other_export(self) -> FhirExport:
        """Harbourside's records exported as FHIR by its admin, every file written (made once)."""
        if not hasattr(self, "_other_export"):
            self.other_record()
            export = fhir_export.start_export(
                organization=self.other_organization, by=self.other_admin
            )
            fhir_export.run_export(export_id=export.pk)
            export.refresh_from_db()
            self._other_export = export
        return self._other_export


def serving_a_live_request() -> bool:
    """Whether this thread is a live server's (the browser tests'), or one of its requests'."""
    thread = threading.current_thread()
    return isinstance(thread, LiveServerThread) or thread.name.endswith("(process_request_thread)")


@receiver(connection_created)
def see_every_organization(sender, connection, **kwargs):
    """The tests' own queries (factories, assertions) see every organisation's rows, as an
    observer of the whole database. Not a live server's: its requests and
    the real processes some tests start are limited as Fascia's are (clinics/row_security.py),
    and a request through the test client sets its own scope for its duration."""
    if not serving_a_live_request():
        with connection.connection.cursor() as cursor:
            cursor.execute("SET fascia.every_organization = 'on'")


APP, OWNER = "app", "owner"
_roles: dict[str, tuple[str, str]] = {}


def connect_as(role: str) -> None:
    """Make the "default" alias connect as the app role or as the owner from now on."""
    if "owner" not in settings.DATABASES:
        return  # one role for both (DATABASE_URL without DATABASE_OWNER_URL)
    default = connections["default"]
    if not _roles:
        owner = connections["owner"].settings_dict
        _roles[APP] = (default.settings_dict["USER"], default.settings_dict["PASSWORD"])
        _roles[OWNER] = (owner["USER"], owner["PASSWORD"])
    database_roles.log_in_as(default, *_roles[role])


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    """Each test database is a copy of one migrated template (tests/migrated_template.py),
    made and migrated by the database owner."""
    connect_as(OWNER)
    with django_db_blocker.unblock():
        use_migrated_template()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The tests run as the role Fascia runs as, which owns nothing (docs/security.md, "Least
    privilege in the database"), so each proves Fascia works with no more; the owner drops
    the test database at the end. A transactional test's flush runs as the owner (clinics'
    `flush` command), as the app role may not TRUNCATE."""
    connect_as(APP)
    yield
    connect_as(OWNER)


@pytest.fixture
def as_database_owner(django_db_setup, django_db_blocker):
    """The test's connection is the database owner's, not Fascia's: for tests that play
    someone who holds the database and rewrites it behind Fascia's back. Ask for it before
    `db` (or a fixture that uses it), so that the test's transaction is the owner's."""
    with django_db_blocker.unblock():
        connect_as(OWNER)
    yield
    with django_db_blocker.unblock():
        connect_as(APP)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Argon2 is deliberately slow; the tests make many users and check no hash strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker) -> World:
    """The world with both full records, made once for a module in a transaction rolled back
    at its end: for the generated matrices, whose many tests read it and whose writes each
    test's own transaction rolls back. A module uses it by asking `world` of it:

        @pytest.fixture
        def world(module_world, db):
            return fresh(module_world)
    """
    with django_db_blocker.unblock(), transaction.atomic():
        shared = make_world(mailbox="shared")
        shared.other_record()
        shared.kelowna_record()
        shared.other_schedule()
        shared.other_export()
        shared.other_import()
        yield shared
        transaction.set_rollback(True)


def fresh(world: World) -> World:
    """`world` with each person's roles read again (a test before may have changed them)."""
    for person in vars(world).values():
        if isinstance(person, User):
            access.forget_grants(person)
    return world


def import_at(clinic: Clinic, *, by: User) -> PatientImport:
    """Two patients imported at `clinic` from another system, as its organisation admin `by`."""
    _plan, record = import_patients(
        organization=clinic.organization,
        clinic=clinic,
        by=by,
        source_system="Cliniko",
        text="id,first name,last name,dob\nI-1,Rowan,Abara,1981-05-05\nI-2,Sol,Ibe,1979-06-06\n",
        file_name="patients.csv",
    )
    return record


def import_file_of(patient: Patient) -> PatientImportFile:
    """A file listing `patient` again, uploaded and checked (its dry run done) by an admin of
    their organisation on the import page: its one row a likely duplicate of them."""
    admin = (
        Membership.objects.filter(organization=patient.organization, role=Role.ORG_ADMIN)
        .select_related("user")
        .first()
        .user
    )
    text = (
        "id,first name,last name,dob\n"
        f"F-1,{patient.first_name},{patient.last_name},{patient.date_of_birth:%Y-%m-%d}\n"
    )
    file = import_files.upload(
        clinic=patient.home_clinic,
        by=admin,
        source_system="Cliniko",
        file_name="again.csv",
        content=io.BytesIO(text.encode()),
    )
    import_files.check(file=file, by=admin, mapping=file.mapping, date_format="iso")
    import_files.run_import_file(file_id=file.pk)  # the worker's part, here and now
    file.refresh_from_db()
    return file


def make_world(*, mailbox: str = "") -> World:
    """The personas. `mailbox` tells apart the organisations and logins of a world shared by
    a module (module_world) from those of the tests' own worlds made beside it."""
    tag = f".{mailbox}" if mailbox else ""

    def person(role: Role, name: str, domain: str, **where) -> User:
        return staff(role, email=f"{name}{tag}@{domain}", **where)

    def named(name: str) -> str:
        return f"{name} ({mailbox})" if mailbox else name

    organization = OrganizationFactory(name=named("Kelowna Physio"))
    kelowna = ClinicFactory(organization=organization, name="Kelowna")
    vernon = ClinicFactory(organization=organization, name="Vernon")
    other = OrganizationFactory(name=named("Harbourside"))
    halifax = ClinicFactory(organization=other, name="Halifax", timezone="America/Halifax")
    return World(
        organization=organization,
        kelowna=kelowna,
        vernon=vernon,
        org_admin=person(Role.ORG_ADMIN, "olivia", "kelowna.test", organization=organization),
        manager=person(Role.CLINIC_MANAGER, "marcus", "kelowna.test", clinic=kelowna),
        therapist=person(Role.THERAPIST, "priya", "kelowna.test", clinic=kelowna),
        front_desk=person(Role.FRONT_DESK, "sam", "kelowna.test", clinic=kelowna),
        vernon_therapist=person(Role.THERAPIST, "dan", "kelowna.test", clinic=vernon),
        other_organization=other,
        halifax=halifax,
        other_admin=person(Role.ORG_ADMIN, "grace", "harbourside.test", organization=other),
        other_therapist=person(Role.THERAPIST, "liam", "harbourside.test", clinic=halifax),
    )


@pytest.fixture
def patient_user(db) -> User:
    """A login with no clinic role: the portal login of the `patient` fixture."""
    return UserFactory(email="pat@example.test")


@pytest.fixture
def patient(world, patient_user) -> Patient:
    """Pat Morgan, a patient of the Kelowna clinic with a portal login (`patient_user`)."""
    return PatientFactory(
        home_clinic=world.kelowna,
        first_name="Pat",
        last_name="Morgan",
        email=patient_user.email,
        user=patient_user,
    )


@pytest.fixture
def client_of():
    """A browser session logged in as `user`."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="module")
def demo_loaded(django_db_setup, django_db_blocker):
    """The demo data, loaded once for a module in a transaction rolled back at its end."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        call_command("demo_data")
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_loaded, db):
    """The demo data (`make run`'s); whatever a test changes in it is rolled back after it."""
