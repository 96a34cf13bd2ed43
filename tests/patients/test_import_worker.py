"""The import page with a real task worker: the progress shows while the import runs, and a
worker killed half-way leaves nothing, then the next one imports the file once.

Real processes: `manage.py worker` on the test database (as tests/config/test_worker.py
starts it), the pages through Django's test client. The first worker is held inside the
import's transaction by the import lock, which the test takes first, and is killed there
with SIGKILL; a second one takes the task again once its lease (2 s here) runs out. About
fifteen seconds: two worker starts and a lease are what is being tested.
"""

import datetime
import re
import signal

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.tasks import task_backends
from django.urls import reverse
from django_tasks_db.backend import DatabaseBackend

from patients.models import ImportFileStatus, Patient, PatientImport, PatientImportFile
from patients.services.records import import_lock_key
from tests.config.test_worker import start_worker
from tests.mail_server import MailServer
from tests.processes import wait_for, wait_until_a_session_waits_on_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 3000


@pytest.fixture
def queued_for_a_worker():
    """The pages queue their jobs in the database, for a worker process to take."""
    working = task_backends["default"]
    task_backends["default"] = DatabaseBackend("default", {"BACKEND": "x"})
    yield
    task_backends["default"] = working


def a_file() -> SimpleUploadedFile:
    """ROWS patients, each born on a day of their own: none is a likely duplicate of another."""
    first_born = datetime.date(1950, 1, 1)
    lines = ["Patient ID,First Name,Last Name,Date of Birth"]
    lines += [
        f"W-{n},Given{n},Family{n},{first_born + datetime.timedelta(days=n):%Y-%m-%d}"
        for n in range(ROWS)
    ]
    content = ("\n".join(lines) + "\n").encode()
    return SimpleUploadedFile("cliniko.csv", content, content_type="text/csv")


def status_of(file) -> str:
    return PatientImportFile.objects.values_list("status", flat=True).get(pk=file.pk)


def test_a_worker_killed_in_the_import_leaves_nothing_and_the_next_imports_once(
    world, client_of, queued_for_a_worker
):
    admin = client_of(world.org_admin)
    admin.post(
        reverse("patients:imports"),
        {
            "file": a_file(),
            "source_system": "Cliniko",
            "clinic": world.kelowna.pk,
        },
    )
    file = PatientImportFile.objects.get()
    page = reverse("patients:import_file", args=[file.pk])
    columns = {**file.mapping, "date_format": "iso"}
    admin.post(reverse("patients:import_check", args=[file.pk]), columns)

    with MailServer() as mail_server:
        first = start_worker(mail_server)
        second = None
        try:
            wait_for(lambda: status_of(file) == "checked", seconds=60, what="the dry run")
            shown = admin.get(page).content.decode()
            assert f"Importing would register <strong>{intcomma(ROWS)}</strong>" in shown
            # The import lock held here: the worker's import waits for it, inside its
            # transaction, and is killed there.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                    [import_lock_key(world.organization.pk)],
                )
            admin.post(reverse("patients:import_start", args=[file.pk]))
            wait_until_a_session_waits_on_a_lock(seconds=30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_all()")
            assert status_of(file) == ImportFileStatus.IMPORTING
            assert not Patient.objects.filter(imported_from="Cliniko").exists()

            second = start_worker(mail_server)
            seen = set()

            def imported() -> bool:
                shown = admin.get(page).content.decode()
                progress = re.search(r'<progress max="(\d+)" value="(\d+)"', shown)
                if progress:
                    seen.add((int(progress[2]), int(progress[1])))
                return "Imported " in shown

            wait_for(imported, seconds=90, what="the import", every=0.02)
        finally:
            for worker in (first, second):
                if worker is not None and worker.poll() is None:
                    worker.terminate()
                    worker.wait(10)

    # The page showed the worker's progress while the import's transaction was open.
    assert any(0 < done < total for done, total in seen), seen
    patients = Patient.objects.filter(imported_from="Cliniko")
    assert patients.count() == ROWS
    assert patients.values("imported_id").distinct().count() == ROWS
    assert PatientImport.objects.get().created == ROWS
    file.refresh_from_db()
    assert (file.status, file.text) == (ImportFileStatus.IMPORTED, "")
