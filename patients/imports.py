"""Patients from another practice system: a CSV file, its columns found by their headers,
every row checked, a dry run that says what would happen to each row, then an import of
all of them or none (`manage.py import_patients`; docs/imports.md).

A row is one of:
- **new**: it will be registered at the import's clinic;
- **already imported**: a patient of the organisation came from the same system with the
  same id (`Patient.imported_from`, `imported_id`): importing a file twice adds nothing;
- **likely duplicate**: a patient of the organisation, or an earlier row, may be this
  person, by the rules registration uses (selectors.likely_duplicates): not imported
  unless the import is told to take them too;
- **refused**: a rule says no (a missing name, a date of birth that is not a date); the
  reason names the column.
"""

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from accounts.models import UserManager
from patients import selectors
from patients.models import Patient
from patients.models.records import EARLIEST_BIRTH_DATE


@dataclass(frozen=True)
class Column:
    """A patient field a file may hold, and the headers other practice systems give it."""

    field: str
    label: str
    required: bool
    headers: tuple[str, ...]


COLUMNS = (
    Column(
        "imported_id",
        "Patient id",
        False,
        (
            "id",
            "patient id",
            "client id",
            "patient number",
            "patient no",
            "chart number",
            "account number",
            "file number",
            "external id",
            "mrn",
        ),
    ),
    Column(
        "first_name",
        "First name",
        True,
        ("first name", "firstname", "given name", "given names", "forename", "first"),
    ),
    Column(
        "last_name",
        "Last name",
        True,
        ("last name", "lastname", "surname", "family name", "last"),
    ),
    Column(
        "date_of_birth",
        "Date of birth",
        True,
        ("date of birth", "dob", "d o b", "birth date", "birthdate", "birthday"),
    ),
    Column("email", "E-mail", False, ("email", "e mail", "email address", "e mail address")),
    Column(
        "phone",
        "Phone",
        False,
        (
            "phone",
            "mobile",
            "mobile phone",
            "mobile number",
            "cell",
            "cell phone",
            "home phone",
            "phone number",
            "telephone",
            "primary phone",
        ),
    ),
    Column(
        "address",
        "Address",
        False,
        ("address", "street address", "address 1", "address line 1", "home address"),
    ),
    Column(
        "emergency_contact_name",
        "Emergency contact",
        False,
        ("emergency contact", "emergency contact name", "next of kin"),
    ),
    Column(
        "emergency_contact_relationship",
        "Emergency contact's relationship",
        False,
        ("emergency contact relationship", "relationship", "next of kin relationship"),
    ),
    Column(
        "emergency_contact_phone",
        "Emergency contact's phone",
        False,
        ("emergency contact phone", "emergency phone", "next of kin phone"),
    ),
)
BY_FIELD = {column.field: column for column in COLUMNS}

DATE_FORMATS = {
    "iso": ("YYYY-MM-DD", ()),
    "dmy": ("DD/MM/YYYY", ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")),
    "mdy": ("MM/DD/YYYY", ("%m/%d/%Y", "%m-%d-%Y")),
}
"""The order of a file's dates besides ISO 8601 (always read): 01/02/1980 is the 1st of
February in one and the 2nd of January in the other, so the file's own order is asked."""


IMPORTED_ID_LONGEST = Patient._meta.get_field("imported_id").max_length


class ImportFileInvalid(ValueError):
    """The file cannot be imported at all (no header, a required column missing)."""


def header_key(header: str) -> str:
    """A header as compared: lower case, words only ("E-mail Address" is "e mail address")."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower()).split())


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The file's headers and its rows (comma, semicolon or tab separated; a BOM is dropped)."""
    text = text.removeprefix("\ufeff")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise ImportFileInvalid("The file is empty: its first line names the columns.")
    rows = [row for row in reader if any(_text(value) for value in row.values())]
    return [header.strip() for header in reader.fieldnames], rows


def _text(value) -> str:
    """A cell as text; the cells beyond the header's (csv keeps them as a list) joined."""
    if isinstance(value, list):
        return ",".join(value).strip()
    return (value or "").strip()


EXTRA = None
"""Where csv.DictReader keeps the cells of a row beyond its header's columns."""


def mapping_for(
    headers: list[str],
    given: dict[str, str] | None = None,
    columns: tuple[Column, ...] = COLUMNS,
    *,
    recognise: bool = True,
) -> dict[str, str]:
    """Which header holds each of `columns`' fields: those `given` ({field: header}), the
    rest recognised (unless not to `recognise`: the import page's mapping is whole).

    Refused (ImportFileInvalid) when a required field has no column, a given header is
    not in the file, or one header is given for two fields.
    """
    by_field = {column.field: column for column in columns}
    given = dict(given or {})
    unknown_fields = set(given) - set(by_field)
    if unknown_fields:
        raise ImportFileInvalid(
            f"Fascia imports no {', '.join(sorted(unknown_fields))}: it imports "
            f"{', '.join(by_field)}."
        )
    for field_name, header in given.items():
        if header not in headers:
            raise ImportFileInvalid(
                f"{by_field[field_name].label}: the file has no column {header!r}."
            )
    twice = sorted(
        by_field[name].label
        for name, header in given.items()
        if list(given.values()).count(header) > 1
    )
    if twice:
        raise ImportFileInvalid(
            f"{' and '.join(twice)}: one column holds one field; choose a column for each."
        )
    mapping = recognised(headers, given, columns) if recognise else given
    missing = [column for column in columns if column.required and column.field not in mapping]
    if missing:
        raise ImportFileInvalid(
            f"No column for {', '.join(column.label for column in missing)}: name it (a header "
            f"such as {missing[0].headers[0]!r}), or map it to the file's own header."
        )
    return mapping


def recognised(
    headers: list[str], given: dict[str, str] | None = None, columns: tuple[Column, ...] = COLUMNS
) -> dict[str, str]:
    """`given` ({field: header}), and the header found for each other field by the names other
    practice systems give it (a header is taken once)."""
    mapping = dict(given or {})
    taken = set(mapping.values())
    keyed = {header_key(header): header for header in headers}
    for column in columns:
        if column.field in mapping:
            continue
        for alias in column.headers:
            header = keyed.get(header_key(alias))
            if header is not None and header not in taken:
                mapping[column.field] = header
                taken.add(header)
                break
    return mapping


class Outcome:
    NEW = "new"
    ALREADY_IMPORTED = "already_imported"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass
class Row:
    """One row of the file and what the import does with it."""

    line: int
    values: dict[str, str]
    outcome: str = Outcome.NEW
    reasons: list[str] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    patient_id: object = None
    """The record it became, or the one it already was or may be."""

    @property
    def name(self) -> str:
        return " ".join(
            part for part in (self.values.get("first_name"), self.values.get("last_name")) if part
        )


@dataclass
class Plan:
    """A dry run: every row with its outcome."""

    rows: list[Row]
    mapping: dict[str, str]

    def count(self, outcome: str) -> int:
        return sum(row.outcome == outcome for row in self.rows)

    def counts(self) -> dict[str, int]:
        return {
            outcome: self.count(outcome)
            for outcome in (
                Outcome.NEW,
                Outcome.ALREADY_IMPORTED,
                Outcome.DUPLICATE,
                Outcome.REFUSED,
            )
        }


ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T].*)?")


def parse_date(text: str, date_format: str) -> datetime.date:
    """A date of the file: ISO 8601 (a time after it is ignored), or in the file's order."""
    text = text.strip()
    iso = ISO_DATE.fullmatch(text)
    shown, patterns = DATE_FORMATS[date_format]
    try:
        if iso:
            return datetime.date.fromisoformat(iso[1])
        for pattern in patterns:
            try:
                return datetime.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
    except ValueError:
        pass
    if patterns:
        raise ValueError(f"{text!r} is not a date as YYYY-MM-DD or {shown}.")
    raise ValueError(
        f"{text!r} is not a date as YYYY-MM-DD; for DD/MM/YYYY or MM/DD/YYYY, say which order "
        "the file uses."
    )


def plan_import(
    *,
    organization,
    source_system: str,
    rows: list[dict[str, str]],
    mapping: dict[str, str],
    date_format: str = "iso",
    today: datetime.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """What importing `rows` into `organization` would do, row by row (writes nothing)."""
    today = today or datetime.date.today()
    already = dict(
        Patient.all_records.filter(organization=organization, imported_from=source_system)
        .exclude(imported_id="")
        .values_list("imported_id", "pk")
    )
    known = Known.of(organization)
    planned = Plan(rows=[], mapping=mapping)
    seen: dict[tuple, int] = {}  # what an earlier row was alike by: its line
    for number, raw in enumerate(rows):
        if progress is not None and number and number % 500 == 0:
            progress(number)  # before the row: refused and known rows count too
        row = Row(
            line=number + 2,  # the header is line 1
            values={name: _text(raw.get(header)) for name, header in mapping.items()},
        )
        planned.rows.append(row)
        if _text(raw.get(EXTRA)):
            row.outcome = Outcome.REFUSED
            row.reasons = [
                "The row has more cells than the file has columns: a value with a comma in "
                "it (an address) needs quotes around it."
            ]
            continue
        _check(row, date_format=date_format, today=today)
        if row.outcome == Outcome.REFUSED:
            continue
        imported_id = row.fields.get("imported_id", "")
        if imported_id and imported_id in already:
            row.outcome = Outcome.ALREADY_IMPORTED
            row.patient_id = already[imported_id]
            continue
        if imported_id and ("id", imported_id) in seen:
            row.outcome = Outcome.REFUSED
            row.reasons = [f"Patient id: {imported_id} is on line {seen['id', imported_id]} too."]
            continue
        if imported_id:
            seen["id", imported_id] = row.line
        _alike(row, organization=organization, seen=seen, known=known)
    if progress is not None:
        progress(len(rows))
    return planned


def _check(row: Row, *, date_format: str, today: datetime.date) -> None:
    """Refuse the row, naming the column, unless every field holds by the record's rules."""
    fields = {}
    for name, value in row.values.items():
        column = BY_FIELD[name]
        if column.required and not value:
            row.reasons.append(f"{column.label}: empty, and every patient has one.")
            continue
        if name == "imported_id" and len(value) > IMPORTED_ID_LONGEST:
            row.reasons.append(f"{column.label}: at most {IMPORTED_ID_LONGEST} characters.")
            continue
        if name == "date_of_birth":
            try:
                born = parse_date(value, date_format)
            except ValueError as error:
                row.reasons.append(f"{column.label}: {error}")
                continue
            if born < EARLIEST_BIRTH_DATE or born > today:
                row.reasons.append(
                    f"{column.label}: {born:%Y-%m-%d} is not a date of birth (after "
                    f"{EARLIEST_BIRTH_DATE:%Y} and not in the future)."
                )
                continue
            fields[name] = born
        elif name == "email":
            fields[name] = UserManager.normalize_email(value) if value else ""
        elif name == "address":
            fields[name] = value
        else:
            fields[name] = " ".join(value.split())
    if not row.reasons:
        record = Patient(**{k: v for k, v in fields.items() if k != "imported_id"})
        try:
            record.full_clean(
                exclude=["organization", "home_clinic", "created_by", "user", "submission_key"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                label = BY_FIELD[name].label if name in BY_FIELD else name
                row.reasons += [f"{label}: {message}" for message in messages]
    if row.reasons:
        row.outcome = Outcome.REFUSED
    row.fields = fields


@dataclass
class Known:
    """What the organisation's patients could be matched by, read once for a whole file:
    every likely duplicate shares a date of birth, the end of a phone number or an e-mail
    address with one of them (selectors.likely_duplicates' three rules), so a row sharing
    none is nobody's and needs no query."""

    born: set = field(default_factory=set)
    phone_ends: set = field(default_factory=set)
    emails: set = field(default_factory=set)

    @classmethod
    def of(cls, organization) -> "Known":
        known = cls()
        for born, digits, email in Patient.objects.filter(organization=organization).values_list(
            "date_of_birth", "phone_digits", "email"
        ):
            known.born.add(born)
            known.emails.add(email.lower())
            # A phone is compared by its last digits (selectors.phone_key): keep every end
            # a key could be.
            for length in range(selectors.PHONE_DIGITS_NEEDED, selectors.PHONE_DIGITS_COMPARED + 1):
                if len(digits) >= length:
                    known.phone_ends.add(digits[-length:])
        return known

    def could_match(self, fields: dict) -> bool:
        email = (fields.get("email") or "").lower()
        return (
            fields["date_of_birth"] in self.born
            or selectors.phone_key(fields.get("phone", "")) in self.phone_ends
            or (bool(email) and email in self.emails)
        )


def _alike(row: Row, *, organization, seen: dict, known: Known) -> None:
    """Mark the row a likely duplicate of a patient, or of an earlier row, by registration's
    rules: a similar name and the same date of birth, the same phone, the same e-mail."""
    fields = row.fields
    matches = []
    if known.could_match(fields):
        matches = selectors.likely_duplicates(
            organization=organization,
            first_name=fields["first_name"],
            last_name=fields["last_name"],
            date_of_birth=fields["date_of_birth"],
            phone=fields.get("phone", ""),
            email=fields.get("email", ""),
        )
    if matches:
        row.outcome = Outcome.DUPLICATE
        row.patient_id = matches[0].pk
        row.reasons = [
            f"May be {match.full_name} (born {match.date_of_birth:%Y-%m-%d}): "
            f"{selectors.in_words(match.duplicate_reasons)}."
            for match in matches[:3]
        ]
    keys = _keys(fields)
    for key in keys:
        if key in seen and row.outcome != Outcome.DUPLICATE:
            row.outcome = Outcome.DUPLICATE
            row.reasons = [f"May be the same person as line {seen[key]}: {_said(key)}."]
    for key in keys:
        seen.setdefault(key, row.line)


def _keys(fields: dict) -> list[tuple]:
    name = Patient(first_name=fields["first_name"], last_name=fields["last_name"]).search_key()
    keys = [("name", name, fields["date_of_birth"])]
    phone = selectors.phone_key(fields.get("phone", ""))
    if phone:
        keys.append(("phone", phone))
    if fields.get("email"):
        keys.append(("email", fields["email"].lower()))
    return keys


def _said(key: tuple) -> str:
    return {
        "name": "the same name and date of birth",
        "phone": "the same phone number",
        "email": "the same e-mail address",
    }[key[0]]


def new_patients(plan: Plan, *, include_duplicates: bool) -> Iterable[Row]:
    """The rows an import registers."""
    for row in plan.rows:
        if row.outcome == Outcome.NEW or (include_duplicates and row.outcome == Outcome.DUPLICATE):
            yield row
