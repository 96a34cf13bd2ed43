"""The access log: every read of a patient's record is written down, with where it came from."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection
from django.utils import timezone

from accounts.client import current_origin
from clinics.lookups import uuid_array
from patients.models import Patient, ReadVia, RecordPart, RecordRead

_logged: ContextVar[set | None] = ContextVar("fascia_reads_logged", default=None)
"""The patients whose reads the response being made has logged (inside `one_response`)."""


@contextmanager
def one_response() -> Iterator[None]:
    """While a response is made: `record_reads_of` leaves out the patients already logged in it,
    so a view that logged a read itself (a chart, with its session) is not logged twice."""
    token = _logged.set(set())
    try:
        yield
    finally:
        _logged.reset(token)


def record_reads(*, reader, patients: Iterable[Patient], part: RecordPart, via: ReadVia) -> None:
    """Log one read per patient of a list that showed `part` of their records (one insert)."""
    _write(
        reader,
        {patient.pk: patient.organization_id for patient in patients},
        part=part,
        via=via,
    )


def record_read(*, reader, patient: Patient, part: RecordPart, via: ReadVia, item=None) -> None:
    """Log that `reader` opened `part` of `patient`'s record (call after access was granted).

    `item` is the one read where the part has many (the session whose chart it was).
    """
    _write(
        reader,
        {patient.pk: patient.organization_id},
        part=part,
        via=via,
        item_id=getattr(item, "pk", None),
    )


def record_reads_of(*, reader, rows: Iterable, part: RecordPart, via: ReadVia) -> None:
    """Log a read of the record of each patient whose rows (of any part) a response showed.

    One insert for a whole page; patients this response already logged are left out.
    """
    already = _logged.get() or set()
    patients = {}
    for row in rows:
        whose = patient_of_row(row)
        if whose is not None and whose[0] not in already:
            patients.setdefault(*whose)
    _write(reader, patients, part=part, via=via)


def patient_of_row(row) -> tuple | None:
    """(patient id, organisation id) of a row of a patient's record; None for any other row.

    Read off ids already loaded: the patient's own row, a row naming its patient
    (a session, a consent, a check-in), or a row of a session or plan that does.
    """
    if isinstance(row, Patient):
        return row.pk, row.organization_id
    if getattr(row, "patient_id", None) is not None:
        return row.patient_id, row.organization_id
    for parent in ("session", "plan", "check_in", "alert"):
        if getattr(row, f"{parent}_id", None) is not None:
            return patient_of_row(getattr(row, parent))
    return None


def _write(reader, patients: dict, *, part: RecordPart, via: ReadVia, item_id=None) -> None:
    """One read per organisation of the patients in `patients` ({patient id: organisation id}):
    naming the patient where there is one, else the list of them (RecordRead).

    Organisations go in one order: each one's chain is locked as its row is chained
    (clinics/audit_chain.py), so two lists spanning the same organisations lock them
    in one order and never wait for each other in a circle.
    """
    if not patients:
        return
    origin = current_origin()
    by_organization = defaultdict(list)
    for patient_id, organization_id in patients.items():
        by_organization[organization_id].append(patient_id)
    read_at = timezone.now()
    with connection.cursor() as cursor:
        for organization_id in sorted(by_organization, key=str):
            listed = sorted(by_organization[organization_id], key=str)
            cursor.execute(
                f"""
                INSERT INTO {RecordRead._meta.db_table}
                    (id, organization_id, patient_id, patients, reader_id, part, via, item_id,
                     read_at, ip_address, user_agent)
                VALUES (gen_random_uuid(), %s, %s, %s::uuid[], %s, %s, %s, %s::uuid,
                        %s::timestamptz, %s::inet, %s)
                """,  # noqa: S608 (the table name is the model's own)
                [
                    organization_id,
                    listed[0] if len(listed) == 1 else None,
                    uuid_array(listed) if len(listed) > 1 else None,
                    reader.pk,
                    part,
                    via,
                    item_id,
                    read_at,
                    origin.ip_address,
                    origin.user_agent,
                ],
            )
    logged = _logged.get()
    if logged is not None:
        logged.update(patients)
