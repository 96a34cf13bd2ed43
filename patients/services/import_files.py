"""The import page: a file of patients uploaded by an organisation admin, its columns chosen,
checked by a dry run, then imported; the dry run and the import are run by the task worker
(patients.tasks.run_import_file), which tells the page how far it is.

The import itself is patients.services.imports.import_patients: all of the file's new
patients or none, in one transaction. Its progress is written beside that transaction, on a
connection of its own (clinics.side_connection), so that the page sees it while the work runs.
So:

- a double click on **Import** finds the file being imported and queues nothing more;
- a worker killed half-way rolls the import back: nothing of it is kept, the task is taken
  again after its lease (clinics/worker.py) and imports the file from the start; if no worker
  takes it, the file is shown stopped after STALLED_AFTER, to be imported again;
- the database going away ends the transaction the same way, and the worker queues the task
  again;
- an import that finishes writes the record of the import and marks the file imported in its
  own transaction: both or neither. The file's text is emptied then (the record keeps the
  report), and importing the same file again adds nothing (imports are idempotent by the
  other system's ids).
"""

import csv
import datetime
import logging
from typing import BinaryIO

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from clinics import access, jobs, row_security
from clinics.exceptions import Conflict, FasciaError, NotPermitted
from clinics.models import Clinic
from clinics.row_security import Scope
from clinics.side_connection import side_connection
from patients import imports, tasks
from patients.exceptions import ImportRefused
from patients.models import WORKING, ImportFileStatus, PatientImport, PatientImportFile
from patients.services.imports import check_import, import_patients, report_of

logger = logging.getLogger(__name__)

LARGEST_FILE = 20 * 1024 * 1024
"""Bytes a file may hold: 100,000 patients of a practice system's export fit in a quarter."""
STALLED_AFTER = datetime.timedelta(minutes=15)
"""A file being checked or imported that has told no progress for this long has lost its
job (a worker that gave up on it, a queueing lost with its process): it is shown stopped,
to be checked or imported again. Progress is told every 500 rows; a worker's lease is a
minute."""
DATABASE_GONE = (OperationalError, InterfaceError)
MAY_CHECK = (ImportFileStatus.MAPPING, ImportFileStatus.CHECKED, ImportFileStatus.FAILED)


def may_import(user) -> bool:
    """Whether `user` imports patients anywhere: the import page and its link are theirs."""
    return access.may_use(user, PatientImport, "add")


def clinics_to_import_into(user):
    """The open clinics of the organisations whose patients `user` may import."""
    organizations = access.organizations_for(user, PatientImport, "add")
    return Clinic.objects.filter(organization__in=organizations, is_active=True).select_related(
        "organization"
    )


def upload(
    *, clinic, by, source_system: str, file_name: str, content: BinaryIO
) -> PatientImportFile:
    """Keep an uploaded file to import into `clinic`, its columns recognised by their headers.

    `content` is read up to LARGEST_FILE: a larger file is refused without being read whole.
    """
    organization = clinic.organization
    source_system = " ".join(source_system.split())
    check_import(organization=organization, clinic=clinic, by=by, source_system=source_system)
    content = content.read(LARGEST_FILE + 1)
    if len(content) > LARGEST_FILE:
        raise ImportRefused(
            f"The file is larger than {filesizeformat(LARGEST_FILE)}: split it in parts "
            "(each part's patients are imported by their ids, once).",
            field="file",
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(
            "The file is not UTF-8 text: save it from the other system or a spreadsheet as "
            "“CSV UTF-8”.",
            field="file",
        ) from None
    try:
        headers, rows = imports.read_csv(text)
    except imports.ImportFileInvalid as error:
        raise ImportRefused(str(error), field="file") from None
    except csv.Error as error:  # a NUL byte, a field larger than csv allows
        raise ImportRefused(
            f"The file is not a CSV file that can be read ({error}).", field="file"
        ) from None
    if not rows:
        raise ImportRefused("The file has no rows below its header.", field="file")
    return PatientImportFile.objects.create(
        organization=organization,
        clinic=clinic,
        uploaded_by=by,
        source_system=source_system,
        file_name=file_name[:255],
        text=text,
        headers=headers,
        rows=len(rows),
        mapping=imports.recognised(headers),
    )


def files_of(user):
    """The files `user` may see on the import page, newest first (without their text and
    dry run, read only where they are needed)."""
    return (
        access.visible_to(user, PatientImportFile.objects.select_related("clinic", "uploaded_by"))
        .defer("text", "report")
        .order_by("-uploaded_at")
    )


def report_shown(file: PatientImportFile) -> list[dict]:
    """The rows a file's page lists: the import's once imported, else the dry run's; none
    while the worker is at it (a page refreshing itself every few seconds)."""
    if file.status in WORKING:
        return []
    if file.status == ImportFileStatus.IMPORTED:
        return file.patient_import.report
    return file.report


def check(*, file: PatientImportFile, by, mapping: dict[str, str], date_format: str):
    """Keep the columns chosen and queue the dry run."""
    _may_change(file, by)
    if date_format not in imports.DATE_FORMATS:
        raise ImportRefused("Choose how the file writes its dates.", field="date_format")
    given = {name: header for name, header in mapping.items() if header}
    try:
        chosen = imports.mapping_for(file.headers, given, recognise=False)
    except imports.ImportFileInvalid as error:
        raise ImportRefused(str(error), field="mapping") from None
    with transaction.atomic():
        taken = PatientImportFile.objects.filter(pk=file.pk, status__in=MAY_CHECK).update(
            **_begun(ImportFileStatus.CHECKING, file, by),
            mapping=chosen,
            date_format=date_format,
            counts={},
            report=[],
            error="",
        )
        if not taken:
            raise _busy(file)
        _queue(file)
    file.refresh_from_db()
    return file


def start_import(
    *, file: PatientImportFile, by, include_duplicates: bool, attempt: int
) -> PatientImportFile:
    """Queue the import of the dry run `attempt` (the one the page showed); a second press
    finds it under way and adds nothing."""
    _may_change(file, by)
    with transaction.atomic():
        taken = PatientImportFile.objects.filter(
            pk=file.pk, status=ImportFileStatus.CHECKED, attempt=attempt
        ).update(
            **_begun(ImportFileStatus.IMPORTING, file, by), include_duplicates=include_duplicates
        )
        if taken:
            _queue(file)
    file.refresh_from_db()
    if taken or file.status in (ImportFileStatus.IMPORTING, ImportFileStatus.IMPORTED):
        return file
    if file.status == ImportFileStatus.CHECKED:
        raise Conflict(
            "The file was checked again since this page was shown: read the new dry run, "
            "then import."
        )
    raise Conflict("Check the file before importing it.")


def _begun(status: str, file: PatientImportFile, by) -> dict:
    """A check or an import asked for by `by`: the next attempt, its progress at nought."""
    return {
        "status": status,
        "attempt": F("attempt") + 1,
        "requested_by": by,
        "stage": "",
        "done": 0,
        "total": file.rows,
        "progressed_at": Now(),
    }


def _queue(file: PatientImportFile) -> None:
    """Queue the worker for the attempt just begun (each check and import is one)."""
    attempt = PatientImportFile.objects.values_list("attempt", flat=True).get(pk=file.pk)
    jobs.run_now(tasks.run_import_file, file_id=str(file.pk), attempt=attempt)


def discard(*, file: PatientImportFile, by) -> None:
    """Forget a file not imported (its text with it); one being checked or imported stays."""
    _may_change(file, by)
    deleted, _ = PatientImportFile.objects.filter(
        pk=file.pk, status__in=(*MAY_CHECK, ImportFileStatus.IMPORTED)
    ).delete()
    if not deleted:
        raise _busy(file)


def end_if_stalled(file: PatientImportFile) -> PatientImportFile:
    """Show a file whose job was lost as stopped (see STALLED_AFTER)."""
    if file.status not in WORKING or file.progressed_at is None:
        return file
    if timezone.now() - file.progressed_at < STALLED_AFTER:
        return file
    stopped = PatientImportFile.objects.filter(
        pk=file.pk, status=file.status, progressed_at=file.progressed_at
    ).update(
        status=ImportFileStatus.FAILED,
        error="The worker stopped before it finished: nothing was imported. Check the file "
        "again, then import it.",
    )
    if stopped:
        file.refresh_from_db()
    return file


def _may_change(file: PatientImportFile, by) -> None:
    if not access.can(by, "change", file):
        raise NotPermitted("Only an organisation admin imports patients.")


def _busy(file: PatientImportFile) -> Conflict:
    file.refresh_from_db()
    return Conflict(f"The file is {file.get_status_display().lower()}: wait until it is done.")


def run_import_file(*, file_id, attempt: int | None = None) -> str:
    """Check or import the file, as its status asks, as the admin who asked; what it did,
    for the task's result. `attempt` is the check or import the task was queued for: an
    older one (the file checked again since) does nothing."""
    with row_security.every_organization():
        file = (
            PatientImportFile.objects.select_related("requested_by", "organization", "clinic")
            .filter(pk=file_id, status__in=WORKING)
            .first()
        )
        if file is None or (attempt is not None and file.attempt != attempt):
            return "nothing to do"
        runs = PatientImportFile.objects.filter(pk=file.pk, attempt=file.attempt)
        runs.filter(status=file.status).update(progressed_at=Now())
    asked_by = file.requested_by
    try:
        with (
            row_security.scope(row_security.of_user(asked_by)),
            side_connection() as side,
            row_security.scope(Scope(organizations=frozenset({file.organization_id})), using=side),
        ):
            return _run(file, runs, _progress_of(runs.using(side), file.status))
    except DATABASE_GONE:
        raise  # the worker queues the task again; the transaction kept nothing
    except (FasciaError, imports.ImportFileInvalid) as error:
        _stop(runs, str(getattr(error, "message", error)))
    except Exception as error:
        logger.exception("Import of file %s stopped", file.pk)
        _stop(
            runs,
            f"The {'check' if file.status == ImportFileStatus.CHECKING else 'import'} "
            f"stopped ({type(error).__name__}): nothing was imported. Try again; the "
            "worker's log has the details.",
        )
    return "stopped"


def _progress_of(runs, status: str):
    """Tell the page how far the work is, on the side connection (committed at once)."""

    def tell(stage: str, done: int, total: int) -> None:
        runs.filter(status=status).update(stage=stage, done=done, total=total, progressed_at=Now())

    return tell


def _run(file: PatientImportFile, runs, progress) -> str:
    # Asked again here: the admin who asked may have lost the role since (the import
    # checks it too, after reading the file, which they could no longer read).
    check_import(
        organization=file.organization,
        clinic=file.clinic,
        by=file.requested_by,
        source_system=file.source_system,
    )
    arguments = {
        "organization": file.organization,
        "clinic": file.clinic,
        "by": file.requested_by,
        "source_system": file.source_system,
        "text": PatientImportFile.objects.values_list("text", flat=True).get(pk=file.pk),
        "file_name": file.file_name,
        "mapping": file.mapping,
        "date_format": file.date_format,
        "recognise": False,
        "progress": progress,
    }
    if file.status == ImportFileStatus.CHECKING:
        plan, _ = import_patients(**arguments, dry_run=True)
        runs.filter(status=ImportFileStatus.CHECKING).update(
            status=ImportFileStatus.CHECKED,
            counts=plan.counts(),
            report=report_of(plan),
            progressed_at=Now(),
        )
        return "checked"
    with transaction.atomic():
        _, record = import_patients(**arguments, include_duplicates=file.include_duplicates)
        done = runs.filter(status=ImportFileStatus.IMPORTING).update(
            status=ImportFileStatus.IMPORTED,
            patient_import=record,
            # The record of the import keeps the report: the file's copy of the patients
            # goes, text and dry run.
            text="",
            report=[],
            counts={},
            progressed_at=Now(),
        )
        if not done:
            # Taken twice (a task queued again while the first still ran): the first one
            # imported it; this one's record of nothing new is not kept.
            transaction.set_rollback(True)
            return "imported already"
    return "imported"


def _stop(runs, message: str) -> None:
    with row_security.every_organization():
        runs.filter(status__in=WORKING).update(
            status=ImportFileStatus.FAILED, error=message, progressed_at=Now()
        )
