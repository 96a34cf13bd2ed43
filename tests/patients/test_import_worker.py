"""The import page with a real task worker: the progress shows while the import's
transaction is open, and a worker killed half-way through writing leaves nothing, then the
next one imports the file once.

Real processes: `manage.py worker` on the test database (as tests/config/test_worker.py
starts it), the pages through Django's test client. Once the first worker has checked every
row and is registering the patients, the test holds the file's row (FOR UPDATE, on a
connection of its own): the worker's next word of progress, or its last update of the file,
waits there, inside the import's transaction, with patients written and nothing committed.
The test reads the page, kills the worker with SIGKILL, lets go, and a second worker takes
the task again once its lease (2 s here) runs out. About twenty seconds: two worker starts,
a lease and 5,000 patients checked three times are what is being tested.
"""

import datetime
import re
import signal

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.tasks import task_backends
from django.urls import reverse
from django_tasks_db.backend import DatabaseBackend

from clinics.side_connection import side_connection
from patients.models import ImportFileStatus, Patient, PatientImport, PatientImportFile
from tests.config.test_worker import start_worker
from tests.mail_server import MailServer
from tests.processes import wait_for, wait_until_a_session_waits_on_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 5000


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


def test_a_worker_killed_while_registering_leaves_nothing_and_the_next_imports_once(
    world, client_of, queued_for_a_worker
):
    admin = client_of(world.org_admin)
    admin.post(
        reverse("patients:imports"),
        {"file": a_file(), "source_system": "Cliniko", "clinic": world.kelowna.pk},
    )
    file = PatientImportFile.objects.get()
    page = reverse("patients:import_file", args=[file.pk])
    admin.post(
        reverse("patients:import_check", args=[file.pk]), {**file.mapping, "date_format": "iso"}
    )

    with MailServer() as mail_server:
        first = start_worker(mail_server)
        second = None
        try:
            wait_for(lambda: progress_of(file)[0] == "checked", seconds=60, what="the dry run")
            shown = admin.get(page).content.decode()
            assert f"Importing would register <strong>{intcomma(ROWS)}</strong>" in shown
            file.refresh_from_db()
            admin.post(reverse("patients:import_start", args=[file.pk]), {"attempt": file.attempt})

            def registering() -> bool:
                _, stage, done, total = progress_of(file)
                return stage == "imported" or (stage == "checked" and done == total == ROWS)

            wait_for(registering, seconds=60, what="the import to check every row", every=0.01)
            with side_connection() as side, transaction.atomic(using=side):
                PatientImportFile.objects.using(side).select_for_update().get(pk=file.pk)
                wait_until_a_session_waits_on_a_lock(seconds=30)
                # The page shows how far the worker is, from inside its open transaction.
                shown = admin.get(page).content.decode()
                progress = re.search(r'<progress max="(\d+)" value="(\d+)"', shown)
                assert progress and int(progress[1]) == ROWS and 0 < int(progress[2]) <= ROWS
                assert "Registering the patients" in shown or "Checking the rows" in shown
                assert not Patient.objects.filter(imported_from="Cliniko").exists()
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            assert progress_of(file)[0] == ImportFileStatus.IMPORTING
            assert not Patient.objects.filter(imported_from="Cliniko").exists()
            assert not PatientImport.objects.exists()

            second = start_worker(mail_server)
            wait_for(
                lambda: progress_of(file)[0] == ImportFileStatus.IMPORTED,
                seconds=90,
                what="the second worker to import the file",
            )
        finally:
            for worker in (first, second):
                if worker is not None and worker.poll() is None:
                    worker.terminate()
                    worker.wait(10)

    patients = Patient.objects.filter(imported_from="Cliniko")
    assert patients.count() == ROWS
    assert patients.values("imported_id").distinct().count() == ROWS
    assert PatientImport.objects.get().created == ROWS
    assert "Imported " in admin.get(page).content.decode()
    file.refresh_from_db()
    assert (file.text, file.report) == ("", [])


def progress_of(file) -> tuple:
    """The file's status and the worker's progress, as committed."""
    return PatientImportFile.objects.values_list("status", "stage", "done", "total").get(pk=file.pk)
