"""Importing patients from another practice system: all of a file's new patients, or none.

The rows are checked by patients.imports (the same rules as registering one patient);
this writes. One import of an organisation at a time (a transaction-level advisory lock),
so two runs of one file cannot both find a row not yet imported: the second waits, then
finds every row already imported. A unique constraint on (organisation, system, id)
holds it whatever the path.
"""

from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from clinics import access
from clinics.exceptions import NotPermitted
from patients import imports
from patients.exceptions import ImportRefused
from patients.imports import Outcome, Plan
from patients.models import Patient, PatientImport
from patients.services.records import import_lock_key

BATCH = 1000
"""Patients inserted a statement."""
SOURCE_LONGEST = Patient._meta.get_field("imported_from").max_length


def check_import(*, organization, clinic, by, source_system: str) -> None:
    """Refuse, naming the field, an import its maker may not make."""
    if not access.can_add(by, PatientImport, organization=organization):
        raise NotPermitted("Only an organisation admin imports patients.")
    if clinic.organization_id != organization.pk:
        raise ImportRefused(
            f"{clinic.name} is not a clinic of {organization.name}.", field="clinic"
        )
    if not clinic.is_active:
        raise ImportRefused(
            f"{clinic.name} is closed (inactive): choose an open clinic.", field="clinic"
        )
    if len(source_system) > SOURCE_LONGEST:
        raise ImportRefused(
            f"The system's name is at most {SOURCE_LONGEST} characters.", field="source_system"
        )
    if not source_system.strip():
        raise ImportRefused(
            "Name the system the file comes from (Cliniko, Jane...): its ids are kept with "
            "that name, so that the same file imported again adds nothing.",
            field="source_system",
        )


def import_patients(
    *,
    organization,
    clinic,
    by,
    source_system: str,
    text: str,
    file_name: str = "",
    mapping: dict[str, str] | None = None,
    date_format: str = "iso",
    include_duplicates: bool = False,
    dry_run: bool = False,
    recognise: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Plan, PatientImport | None]:
    """Check every row of the CSV `text` and, unless `dry_run`, register the new patients at
    `clinic`, all in one transaction; the plan and the record of the import.

    `progress(stage, done, total)` is told how far the check ("checked") and the writing
    ("imported") are. Fields `mapping` leaves out are found by their headers, unless not to
    `recognise` them (the import page's mapping is whole).
    """
    source_system = " ".join(source_system.split())
    check_import(organization=organization, clinic=clinic, by=by, source_system=source_system)
    headers, rows = imports.read_csv(text)
    mapping = imports.mapping_for(headers, mapping, recognise=recognise)
    with transaction.atomic():
        if not dry_run:  # a dry run writes nothing: the desks need not wait for it
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [import_lock_key(organization.pk)],
                )
        plan = imports.plan_import(
            organization=organization,
            source_system=source_system,
            rows=rows,
            mapping=mapping,
            date_format=date_format,
            today=timezone.localdate(timezone=clinic.zone),
            progress=(lambda done: progress("checked", done, len(rows))) if progress else None,
        )
        if dry_run:
            transaction.set_rollback(True)
            return plan, None
        creating = list(imports.new_patients(plan, include_duplicates=include_duplicates))
        for start in range(0, len(creating), BATCH):
            batch = creating[start : start + BATCH]
            made = Patient.objects.bulk_create(
                Patient(
                    organization=organization,
                    home_clinic=clinic,
                    created_by=by,
                    imported_from=source_system,
                    **row.fields,
                )
                for row in batch
            )
            for row, patient in zip(batch, made, strict=True):
                row.patient_id = patient.pk
            if progress is not None:
                progress("imported", start + len(batch), len(creating))
        counts = plan.counts()
        record = PatientImport.objects.create(
            organization=organization,
            clinic=clinic,
            imported_by=by,
            source_system=source_system,
            file_name=file_name[:255],
            mapping=mapping,
            date_format=date_format,
            include_duplicates=include_duplicates,
            rows=len(plan.rows),
            created=len(creating),
            already_imported=counts[Outcome.ALREADY_IMPORTED],
            duplicates=counts[Outcome.DUPLICATE],
            refused=counts[Outcome.REFUSED],
            report=report_of(plan),
        )
    return plan, record


def report_of(plan: Plan) -> list[dict]:
    """Every row of the file: its line, outcome, name, the record it became or matched, and
    the reasons."""
    return [
        {
            "line": row.line,
            "outcome": row.outcome,
            "name": row.name,
            "patient": str(row.patient_id) if row.patient_id else None,
            "reasons": row.reasons,
        }
        for row in plan.rows
    ]
