"""A whole organisation's records as FHIR R4 NDJSON, made by the task worker (Bulk Data style).

An organisation admin asks (`start_export`); the worker (`run_export`, queued once the
request commits) reads the organisation's patients in chunks, in the order of their ids,
as that admin: both walls (clinics.access and row-level security) apply to it as to a
page. Each chunk's files, the progress and the last patient done are written in one
transaction, and each chunk is written to the access log as a read of its patients'
whole records. So:

- a worker killed half-way leaves whole chunks; the task is taken again after its lease
  (clinics/worker.py) and carries on after the last patient done, writing nothing twice;
- the database going away ends the chunk's transaction: nothing of it is kept, and the
  worker queues the task again;
- a double click or a retried kick-off joins the export under way (a unique constraint
  on the unfinished export of an admin and a choice of types);
- a cancel (`cancel_export`) waits for the chunk being written, then deletes the files.

Files are kept EXPORT_KEPT_FOR after the export ends; a later kick-off deletes older ones.
"""

import datetime
import json
import logging
import uuid
from collections import defaultdict

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from clinics import access, jobs, row_security
from clinics.exceptions import NotPermitted
from patients import fhir, tasks
from patients.exceptions import ExportRefused
from patients.models import (
    ExportStatus,
    FhirExport,
    FhirExportFile,
    Patient,
    ReadVia,
    RecordPart,
)
from patients.services.audit import record_reads

logger = logging.getLogger(__name__)

CHUNK_PATIENTS = 200
"""Patients a chunk: its transaction holds the export row for a few seconds at most."""
EXPORT_KEPT_FOR = datetime.timedelta(days=7)
STALLED_AFTER = datetime.timedelta(minutes=15)
"""An unfinished export that has written nothing for this long has lost its job (a worker
that gave up on it, a queueing lost with its process): it is ended as failed, and asking
again starts a new one. A chunk takes seconds; a worker's lease is a minute."""
UNFINISHED = (ExportStatus.QUEUED, ExportStatus.RUNNING)
DATABASE_GONE = (OperationalError, InterfaceError)


def exported_patients(reader, organization):
    """The patients an export of `organization` holds: every record not merged into another."""
    return access.visible_to(
        reader, Patient.objects.filter(organization=organization, merged_into__isnull=True)
    )


def organization_to_export(by, named=None):
    """The organisation `by` exports: the one they administer, or the one they `named`."""
    allowed = access.organizations_for(by, FhirExport, "add")
    if named:
        try:
            return allowed.get(pk=uuid.UUID(str(named)))
        except (ValueError, ObjectDoesNotExist):
            raise ExportRefused(
                "None of the organisations you administer has this id.", field="organization"
            ) from None
    found = list(allowed[:2])
    if not found:
        raise NotPermitted("Only an organisation admin exports the whole organisation's records.")
    if len(found) > 1:
        raise ExportRefused(
            "You are an admin of more than one organisation: name the one to export with "
            "`organization`.",
            field="organization",
        )
    return found[0]


def start_export(*, organization, by, types: list[str] | None = None) -> FhirExport:
    """Queue an export of `organization`'s records (of `types` only, when given) for `by`.

    The same admin asking again for the same types while it runs gets the same export.
    """
    if not access.can_add(by, FhirExport, organization=organization):
        raise NotPermitted("Only an organisation admin exports the whole organisation's records.")
    types = sorted(set(types or ()))
    known = fhir.resource_types()
    unknown = [kind for kind in types if kind not in known]
    if unknown:
        raise ExportRefused(
            f"Fascia exports no {', '.join(unknown)}. It exports {', '.join(known)}.",
            field="_type",
        )
    forget_old_exports(organization=organization)
    unfinished = FhirExport.objects.filter(
        organization=organization, requested_by=by, types=types, status__in=UNFINISHED
    )
    for export in unfinished:
        end_if_stalled(export)
    try:
        with transaction.atomic():
            export = FhirExport.objects.create(
                organization=organization,
                requested_by=by,
                types=types,
                patients_total=exported_patients(by, organization).count(),
            )
            jobs.run_now(tasks.run_fhir_export, export_id=str(export.pk))
    except IntegrityError:
        export = unfinished.first()
        if export is None:  # it ended between the two statements: ask again
            return start_export(organization=organization, by=by, types=types)
    return export


def forget_old_exports(*, organization) -> int:
    """Delete the files of `organization`'s exports that ended more than EXPORT_KEPT_FOR ago."""
    deleted, _ = FhirExportFile.objects.filter(
        organization=organization,
        export__finished_at__lt=timezone.now() - EXPORT_KEPT_FOR,
    ).delete()
    return deleted


def end_if_stalled(export: FhirExport) -> FhirExport:
    """End `export` as failed if it is unfinished and nothing has moved it for STALLED_AFTER."""
    moved = export.progressed_at or export.requested_at
    if export.status in UNFINISHED and moved < timezone.now() - STALLED_AFTER:
        _end(
            export,
            ExportStatus.FAILED,
            "The export stopped: nothing was written for "
            f"{STALLED_AFTER.total_seconds() / 60:.0f} minutes. Ask for it again.",
        )
        export.refresh_from_db()
    return export


def gone(export: FhirExport) -> bool:
    """Cancelled, deleted, or ended so long ago that its files are no longer kept (they are
    deleted now, if the organisation's next kick-off has not already)."""
    if export.status == ExportStatus.CANCELLED:
        return True
    if export.finished_at is not None and export.finished_at < timezone.now() - EXPORT_KEPT_FOR:
        forget_old_exports(organization=export.organization)
        return True
    return False


def cancel_export(*, export: FhirExport, by) -> FhirExport:
    """Stop an export under way, or delete the files of one that ended."""
    if not access.can(by, "delete", export):
        raise NotPermitted("Only an organisation admin cancels an export.")
    with transaction.atomic():
        export = FhirExport.objects.select_for_update().get(pk=export.pk)
        FhirExportFile.objects.filter(organization=export.organization, export=export).delete()
        if export.status != ExportStatus.CANCELLED:
            export.status = ExportStatus.CANCELLED
            export.finished_at = export.finished_at or timezone.now()
            export.save(update_fields=["status", "finished_at"])
    return export


def run_export(*, export_id) -> str:
    """Write the export's files, chunk by chunk; what it did, for the task's result."""
    with row_security.every_organization():
        export = FhirExport.objects.select_related("requested_by", "organization").filter(
            pk=export_id
        )
        export = export.first()
    if export is None:
        return "gone"
    reader = export.requested_by
    with row_security.scope(row_security.of_user(reader)):
        taken = FhirExport.objects.filter(pk=export.pk, status__in=UNFINISHED).update(
            status=ExportStatus.RUNNING,
            started_at=Coalesce("started_at", Now()),
            progressed_at=Now(),
        )
        if not taken:
            return "already ended"
        try:
            if not access.can_add(reader, FhirExport, organization=export.organization):
                _end(export, ExportStatus.FAILED, f"{reader} is no longer an organisation admin.")
                return "failed"
            while True:
                done = _write_chunk(export.pk, reader)
                if done is not None:
                    return done
        except DATABASE_GONE:
            raise  # the worker queues the task again; the chunk's transaction kept nothing
        except Exception as error:
            logger.exception("FHIR export %s stopped", export.pk)
            _end(
                export,
                ExportStatus.FAILED,
                f"The export stopped ({type(error).__name__}). Ask for it again; the worker's "
                "log has the details.",
            )
            return "failed"


def _write_chunk(export_id, reader) -> str | None:
    """Write the next chunk in one transaction; how the export ended, or None to go on."""
    with transaction.atomic():
        export = (
            FhirExport.objects.select_for_update().select_related("organization").get(pk=export_id)
        )
        if export.status != ExportStatus.RUNNING:
            return "cancelled"
        if not access.can_add(reader, FhirExport, organization=export.organization):
            # Read as someone who may no longer read every record: not a whole export.
            _end(export, ExportStatus.FAILED, f"{reader} is no longer an organisation admin.")
            return "failed"
        patients = exported_patients(reader, export.organization).select_related(
            "organization", "home_clinic"
        )
        if export.last_patient is not None:
            patients = patients.filter(pk__gt=export.last_patient)
        patients = list(patients.order_by("pk")[:CHUNK_PATIENTS])
        if not patients:
            export.status = ExportStatus.COMPLETED
            export.finished_at = timezone.now()
            export.save(update_fields=["status", "finished_at"])
            return "completed"
        written = set(export.shared)
        lines = defaultdict(list)
        for resource in fhir.chunk(reader, export.organization, patients, types=export.types):
            kind = resource["resourceType"]
            if export.types and kind not in export.types:
                continue
            if kind in fhir.SHARED_TYPES:
                key = f"{kind}/{resource['id']}"
                if key in written:
                    continue
                written.add(key)
            lines[kind].append(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
        FhirExportFile.objects.bulk_create(
            FhirExportFile(
                organization=export.organization,
                export=export,
                resource_type=kind,
                chunk=export.chunks,
                count=len(found),
                ndjson="\n".join(found) + "\n",
            )
            for kind, found in lines.items()
        )
        record_reads(reader=reader, patients=patients, part=RecordPart.EXPORT, via=ReadVia.API)
        export.chunks += 1
        export.last_patient = patients[-1].pk
        export.patients_done += len(patients)
        export.patients_total = max(export.patients_total, export.patients_done)
        export.shared = sorted(written)
        export.progressed_at = timezone.now()
        export.save(
            update_fields=[
                *("chunks", "last_patient", "patients_done", "patients_total", "shared"),
                "progressed_at",
            ]
        )
    return None


def _end(export: FhirExport, status: str, error: str = "") -> None:
    FhirExport.objects.filter(pk=export.pk, status__in=UNFINISHED).update(
        status=status, error=error, finished_at=Now()
    )


def manifest(export: FhirExport, *, url_of) -> dict:
    """The finished export's files, as the Bulk Data status answer lists them.

    `url_of(resource_type)` is the address of the file of that type.
    """
    counts: dict[str, int] = defaultdict(int)
    for kind, count in FhirExportFile.objects.filter(
        organization=export.organization, export=export
    ).values_list("resource_type", "count"):
        counts[kind] += count
    order = {kind: place for place, kind in enumerate(fhir.resource_types())}
    return {
        "transactionTime": export.requested_at,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": url_of(kind), "count": counts[kind]}
            for kind in sorted(counts, key=lambda kind: order.get(kind, len(order)))
        ],
        "error": [],
    }


def has_file(export: FhirExport, resource_type: str) -> bool:
    """Whether the complete export has a file of that type to give."""
    return (
        export.status == ExportStatus.COMPLETED
        and FhirExportFile.objects.filter(
            organization=export.organization, export=export, resource_type=resource_type
        ).exists()
    )


def log_download(export: FhirExport, *, by) -> None:
    """A file of the export downloaded: a read of the records of the organisation's patients
    (one line in the access log), whoever asked for the export."""
    record_reads(
        reader=by,
        patients=exported_patients(by, export.organization).only("pk", "organization_id"),
        part=RecordPart.EXPORT,
        via=ReadVia.API,
    )


def file_lines(export: FhirExport, resource_type: str):
    """The NDJSON of one type, chunk by chunk, read a few chunks at a time."""
    chunks = (
        FhirExportFile.objects.filter(
            organization=export.organization, export=export, resource_type=resource_type
        )
        .order_by("chunk")
        .values_list("ndjson", flat=True)
    )
    yield from chunks.iterator(chunk_size=4)
