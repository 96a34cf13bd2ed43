"""Importing the bookings to come from another practice system's CSV export.

Each row is booked through book_session, so every rule of a booking holds (the therapist
works at the clinic, no clash with another booking of the therapist or the patient, a
current credential for a needling type); a row a rule refuses is reported with the rule's
own message. All the bookings are made in one transaction, each row in a savepoint of its
own: a dry run makes them and rolls them back, so it finds the same clashes the import
would. The patient is the one the patients import brought from the same system (by its
id), or the patient with that name and date of birth; the therapist is found by e-mail.
Importing a file again adds nothing: the system's id for each appointment is kept on the
session (`TreatmentSession.imported_from`, `imported_id`, unique per organisation).
"""

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from clinics import access
from clinics.exceptions import FasciaError, NotPermitted
from clinics.models import Clinic
from clinics.selectors import therapists_of
from patients import imports
from patients.imports import Column
from patients.models import Patient, PatientImport
from sessions.exceptions import OutsideWorkingHours
from sessions.models import AppointmentType, TreatmentSession
from sessions.services.booking import DEFAULT_LENGTH, book_session

COLUMNS = (
    Column(
        "imported_id",
        "Appointment id",
        False,
        ("id", "appointment id", "booking id", "appointment number", "appointment no"),
    ),
    Column(
        "patient_id",
        "Patient id",
        False,
        ("patient id", "client id", "patient number", "patient no", "chart number"),
    ),
    # The patient by name and date of birth, when the file has no id for them.
    *(
        dataclasses.replace(column, required=False)
        for column in imports.COLUMNS
        if column.field in ("first_name", "last_name", "date_of_birth")
    ),
    Column(
        "therapist_email",
        "Therapist's e-mail",
        True,
        (
            "therapist email",
            "practitioner email",
            "provider email",
            "staff email",
            "therapist e mail",
            "practitioner e mail",
        ),
    ),
    Column("clinic", "Clinic", False, ("clinic", "location", "site", "business", "practice")),
    Column(
        "starts",
        "Starts",
        False,
        ("starts", "start", "starts at", "appointment start", "start date time", "start datetime"),
    ),
    Column("date", "Date", False, ("date", "appointment date")),
    Column("time", "Time", False, ("time", "start time", "appointment time")),
    Column("minutes", "Length (minutes)", False, ("duration", "length", "minutes")),
    Column(
        "appointment_type",
        "Appointment type",
        False,
        ("appointment type", "service", "type", "treatment"),
    ),
)
BY_FIELD = {column.field: column for column in COLUMNS}


class Outcome:
    BOOKED = "booked"
    ALREADY_IMPORTED = "already_imported"
    REFUSED = "refused"


@dataclass
class Row:
    line: int
    values: dict[str, str]
    outcome: str = Outcome.BOOKED
    reasons: list[str] = field(default_factory=list)
    session_id: object = None

    @property
    def name(self) -> str:
        return " ".join(
            part for part in (self.values.get("first_name"), self.values.get("last_name")) if part
        ) or self.values.get("patient_id", "")


@dataclass
class Plan:
    rows: list[Row]
    mapping: dict[str, str]

    def count(self, outcome: str) -> int:
        return sum(row.outcome == outcome for row in self.rows)


class Refused(Exception):
    """A row that cannot be booked, and why (naming the column)."""


def import_bookings(
    *,
    organization,
    by,
    source_system: str,
    text: str,
    clinic: Clinic | None = None,
    mapping: dict[str, str] | None = None,
    date_format: str = "iso",
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Plan:
    """Book every row of the CSV `text` that the booking rules allow (all in one
    transaction; rolled back when `dry_run`); the plan says what became of each row."""
    source_system = " ".join(source_system.split())
    if not access.can_add(by, PatientImport, organization=organization):
        raise NotPermitted("Only an organisation admin imports bookings.")
    headers, rows = imports.read_csv(text)
    mapping = imports.mapping_for(headers, mapping, columns=COLUMNS)
    has_start = "starts" in mapping or ("date" in mapping and "time" in mapping)
    if not has_start:
        raise imports.ImportFileInvalid(
            "No column for when each booking starts: a date and time column (such as "
            "'Start'), or a 'Date' and a 'Time' column."
        )
    if "clinic" not in mapping and clinic is None:
        raise imports.ImportFileInvalid("The file names no clinic: say which with --clinic.")
    plan = Plan(rows=[], mapping=mapping)
    finder = _Finder(organization, source_system)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"booking-import:{organization.pk}"],
            )
        already = dict(
            TreatmentSession.objects.filter(organization=organization, imported_from=source_system)
            .exclude(imported_id="")
            .values_list("imported_id", "pk")
        )
        for number, raw in enumerate(rows):
            row = Row(
                line=number + 2,
                values={name: (raw.get(header) or "").strip() for name, header in mapping.items()},
            )
            plan.rows.append(row)
            imported_id = row.values.get("imported_id", "")
            if imported_id and imported_id in already:
                row.outcome, row.session_id = Outcome.ALREADY_IMPORTED, already[imported_id]
                continue
            try:
                with transaction.atomic():
                    session = _book(
                        row, finder=finder, clinic=clinic, by=by, date_format=date_format
                    )
                    TreatmentSession.objects.filter(pk=session.pk).update(
                        imported_from=source_system, imported_id=imported_id
                    )
            except Refused as refused:
                row.outcome, row.reasons = Outcome.REFUSED, [str(refused)]
            except FasciaError as error:
                label = BY_FIELD[error.field].label if error.field in BY_FIELD else None
                row.outcome = Outcome.REFUSED
                row.reasons = [f"{label}: {error.message}" if label else error.message]
            else:
                row.session_id = session.pk
                if imported_id:
                    already[imported_id] = session.pk
            if progress is not None:
                progress("booked", number + 1, len(rows))
        if dry_run:
            transaction.set_rollback(True)
    return plan


class _Finder:
    """The organisation's patients, therapists, clinics and appointment types, each looked
    up once for a whole file."""

    def __init__(self, organization, source_system: str):
        self.organization = organization
        self.source_system = source_system
        self.clinics = {
            clinic.name.lower(): clinic
            for clinic in Clinic.objects.filter(organization=organization)
        }
        self.types = {
            kind.name.lower(): kind
            for kind in AppointmentType.objects.filter(organization=organization, is_active=True)
        }
        self._therapists: dict = {}

    def clinic(self, name: str, default: Clinic | None) -> Clinic:
        if not name:
            return default
        found = self.clinics.get(name.lower())
        if found is None:
            raise Refused(f"Clinic: {self.organization.name} has no clinic called {name!r}.")
        return found

    def therapist(self, email: str, clinic: Clinic) -> User:
        key = (email.lower(), clinic.pk)
        if key not in self._therapists:
            self._therapists[key] = therapists_of(clinic=clinic).filter(email__iexact=email).first()
        found = self._therapists[key]
        if found is None:
            raise Refused(
                f"Therapist's e-mail: nobody with {email!r} is a therapist at {clinic.name}."
            )
        return found

    def patient(self, row: Row, date_format: str) -> Patient:
        patient_id = row.values.get("patient_id", "")
        if patient_id:
            found = Patient.objects.filter(
                organization=self.organization,
                imported_from=self.source_system,
                imported_id=patient_id,
            ).first()
            if found is not None:
                return found
        first, last = row.values.get("first_name", ""), row.values.get("last_name", "")
        born = row.values.get("date_of_birth", "")
        if not (first and last and born):
            raise Refused(
                f"Patient id: no patient was imported from {self.source_system} as "
                f"{patient_id!r}, and the row gives no name and date of birth to find them by."
                if patient_id
                else "Patient: give the patient's id in the other system, or their name and "
                "date of birth."
            )
        try:
            born = imports.parse_date(born, date_format)
        except ValueError as error:
            raise Refused(f"Date of birth: {error}") from None
        name = Patient(first_name=first, last_name=last).search_key()
        found = list(
            Patient.objects.filter(
                organization=self.organization, search_name=name, date_of_birth=born
            )[:2]
        )
        if len(found) != 1:
            raise Refused(
                f"Patient: {'no' if not found else 'more than one'} patient is called "
                f"{first} {last}, born {born:%Y-%m-%d}"
                + (": import the patients first." if not found else ": give the patient id.")
            )
        return found[0]


def _starts(row: Row, clinic: Clinic, date_format: str) -> datetime.datetime:
    values = row.values
    text = values.get("starts") or f"{values.get('date', '')} {values.get('time', '')}".strip()
    day_text, _, time_text = text.replace("T", " ").partition(" ")
    try:
        day = imports.parse_date(day_text, date_format)
    except ValueError as error:
        raise Refused(f"Starts: {error}") from None
    try:
        at = datetime.time.fromisoformat(time_text.strip()[:5]) if time_text.strip() else None
    except ValueError:
        at = None
    if at is None:
        raise Refused(f"Starts: {text!r} gives no time of day as HH:MM.")
    starts = timezone.make_aware(datetime.datetime.combine(day, at), clinic.zone)
    if starts <= timezone.now():
        raise Refused(
            f"Starts: {starts.astimezone(clinic.zone):%Y-%m-%d %H:%M} is past: only bookings to "
            "come are imported (the old system keeps the history)."
        )
    return starts


def _book(row: Row, *, finder: _Finder, clinic, by, date_format: str) -> TreatmentSession:
    values = row.values
    at = finder.clinic(values.get("clinic", ""), clinic)
    therapist = finder.therapist(values.get("therapist_email", ""), at)
    patient = finder.patient(row, date_format)
    starts = _starts(row, at, date_format)
    kind = None
    if values.get("appointment_type"):
        kind = finder.types.get(values["appointment_type"].lower())
        if kind is None:
            raise Refused(
                f"Appointment type: {finder.organization.name} offers none called "
                f"{values['appointment_type']!r}: add it first, or leave the column out."
            )
    length = DEFAULT_LENGTH
    if values.get("minutes") and kind is None:
        try:
            length = datetime.timedelta(minutes=int(values["minutes"]))
        except ValueError:
            raise Refused(f"Length (minutes): {values['minutes']!r} is not a number.") from None
    booking = {
        "clinic": at,
        "therapist": therapist,
        "patient": patient,
        "starts_at": starts,
        "by": by,
        "length": length,
        "appointment_type": kind,
    }
    try:
        with transaction.atomic():
            return book_session(**booking)
    except OutsideWorkingHours:
        # Booked before the move, when Fascia did not know the hours: kept with the reason.
        return book_session(
            **booking, outside_hours_reason="Booked in the old system before the move to Fascia"
        )
