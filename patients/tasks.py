"""The patients app's background jobs (Django's Tasks framework; `manage.py worker` runs them).

This module imports no service at load time: the services import it, and the jobs import
them when they run.
"""

from django.tasks import task


@task
def run_fhir_export(export_id: str) -> str:
    """Write an organisation's FHIR export (patients.services.fhir_export.run_export): as the
    admin who asked, whose scope the job takes itself."""
    from patients.services import fhir_export

    return fhir_export.run_export(export_id=export_id)


@task
def run_import_file(file_id: str, attempt: int) -> str:
    """Check or import a file of the import page (patients.services.import_files), as the
    admin who asked: the check or import `attempt` it was queued for."""
    from patients.services import import_files

    return import_files.run_import_file(file_id=file_id, attempt=attempt)
