"""The import page: upload a file of patients, choose its columns, read the dry run, import;
the dry run and the import run by the worker (here the tests' immediate backend, when the
request commits), all of it through real requests."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from clinics import access
from clinics.models import Membership, Role
from patients.models import (
    ImportFileStatus,
    Patient,
    PatientImport,
    PatientImportFile,
    RecordPart,
    RecordRead,
)
from patients.services import import_files
from tests.clinics.factories import staff

JANE = """Client ID,Given Name,Surname,Birthday,E-mail Address,Cell Phone,Notes
J-1,Ana,Silva,12/04/1985,ana@example.test,+1 250 555 0101,Runner
J-2,,Moreau,01/01/1990,,,
J-3,Ben,Okafor,31/12/1979,,,
J-4,Pat,Morgan,15/06/1985,,+1 250 555 0199,
J-5,Chen,Wu,1972-07-30,chen@example.test,,
J-6,Dee,Ray,32/01/1980,,,
"""
"""Jane's headers (recognised), days first: two new (Ana, Ben), Chen too, Moreau without a
first name and Ray's 32nd of January refused, Pat Morgan a likely duplicate of `patient`."""


def upload(client, world, text: str = JANE, *, name: str = "jane.csv", **fields):
    return client.post(
        reverse("patients:imports"),
        {
            "file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
            "source_system": "Jane",
            "clinic": world.kelowna.pk,
            **fields,
        },
    )


def columns(file: PatientImportFile, **changes) -> dict:
    """The columns form as the page shows it (the headers recognised), with `changes`."""
    return {
        **{name: "" for name in ("imported_id", "first_name", "last_name", "date_of_birth")},
        **{name: "" for name in ("email", "phone", "address")},
        **{
            name: ""
            for name in (
                "emergency_contact_name",
                "emergency_contact_relationship",
                "emergency_contact_phone",
            )
        },
        **file.mapping,
        "date_format": "dmy",
        **changes,
    }


def page(file) -> str:
    return reverse("patients:import_file", args=[file.pk])


def start(client, file, *, follow: bool = False, **fields):
    """Press Import under the dry run the page shows (`file` as it was read last)."""
    return client.post(
        reverse("patients:import_start", args=[file.pk]),
        {"attempt": file.attempt, **fields},
        follow=follow,
    )


@pytest.fixture
def admin(world, client_of):
    return client_of(world.org_admin)


@pytest.fixture
def checked(world, admin, patient, django_capture_on_commit_callbacks):
    """Jane's file uploaded, its columns as recognised, days first, and its dry run done."""
    upload(admin, world)
    file = PatientImportFile.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("patients:import_check", args=[file.pk]), columns(file))
    assert response.status_code == 302
    file.refresh_from_db()
    assert file.status == ImportFileStatus.CHECKED
    return file


def test_the_page_recognises_the_columns_of_another_system(world, admin):
    response = upload(admin, world)

    file = PatientImportFile.objects.get()
    assert response.status_code == 302 and response["Location"] == page(file)
    assert file.mapping == {
        "imported_id": "Client ID",
        "first_name": "Given Name",
        "last_name": "Surname",
        "date_of_birth": "Birthday",
        "email": "E-mail Address",
        "phone": "Cell Phone",
    }
    assert (file.rows, file.status, file.uploaded_by) == (6, "mapping", world.org_admin)
    shown = admin.get(page(file)).content.decode()
    assert "Choose the columns" in shown
    assert '<option value="Surname" selected>Surname</option>' in shown
    assert '<option value="Notes">Notes</option>' in shown
    assert Patient.objects.filter(imported_from="Jane").count() == 0


def test_the_dry_run_says_what_each_row_would_become_and_registers_nobody(
    world, admin, checked, patient
):
    assert checked.counts == {"new": 3, "already_imported": 0, "duplicate": 1, "refused": 2}
    assert checked.mapping["date_of_birth"] == "Birthday" and checked.date_format == "dmy"
    assert Patient.objects.filter(imported_from="Jane").count() == 0

    shown = " ".join(admin.get(page(checked)).content.decode().split())
    assert "Importing would register <strong>3</strong> new patients at Kelowna." in shown
    assert "Nothing is imported yet." in shown
    assert "Refused (2)" in shown
    assert "First name: empty, and every patient has one." in shown
    assert "Date of birth: &#x27;32/01/1980&#x27; is not a date as YYYY-MM-DD or DD/MM/YYYY." in (
        shown
    )
    assert "Likely duplicates (1)" in shown
    # The likely duplicate links to the patient it may be; showing them is a read of them.
    assert reverse("patients:detail", args=[patient.pk]) in shown
    assert (
        RecordRead.objects.of_patients([patient.pk])
        .filter(reader=world.org_admin, part=RecordPart.LIST)
        .exists()
    )
    assert "Import 3 patients" in shown


def test_the_import_registers_the_new_patients_once_and_again_adds_nothing(
    world, admin, checked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = start(admin, checked)
    assert response.status_code == 302
    checked.refresh_from_db()
    record = checked.patient_import
    assert (checked.status, checked.text) == (ImportFileStatus.IMPORTED, "")
    assert (record.created, record.duplicates, record.refused, record.imported_by) == (
        3,
        1,
        2,
        world.org_admin,
    )
    imported = Patient.objects.filter(imported_from="Jane", home_clinic=world.kelowna)
    assert sorted(imported.values_list("imported_id", flat=True)) == ["J-1", "J-3", "J-5"]
    assert imported.get(imported_id="J-1").date_of_birth == datetime.date(1985, 4, 12)
    shown = " ".join(admin.get(page(checked)).content.decode().split())
    assert "3 patients registered at Kelowna, 1 likely duplicate left out, 2 refused." in shown
    listing = admin.get(reverse("patients:imports")).content.decode()
    assert "jane.csv" in listing and "Imports done" in listing

    # The same file again: checked, it finds the three imported before, and adds nothing.
    upload(admin, world)
    again = PatientImportFile.objects.exclude(pk=checked.pk).get()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("patients:import_check", args=[again.pk]), columns(again))
    again.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        start(admin, again)
    again.refresh_from_db()
    assert again.patient_import.created == 0
    assert again.patient_import.already_imported == 3
    assert imported.count() == 3


def test_a_double_click_on_import_queues_one_import(
    world, admin, checked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        start(admin, checked)
        start(admin, checked)
    assert len(queued) == 1
    checked.refresh_from_db()
    assert checked.status == ImportFileStatus.IMPORTING
    shown = admin.get(page(checked)).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in shown
    assert "Waiting for the worker to start." in shown
    assert "Discard this file" not in shown
    assert admin.post(reverse("patients:import_discard", args=[checked.pk])).status_code == 302
    assert PatientImportFile.objects.filter(pk=checked.pk).exists()  # not while importing


def test_the_likely_duplicates_come_in_only_when_ticked(
    world, admin, checked, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        start(admin, checked, include_duplicates="on")
    checked.refresh_from_db()
    assert checked.patient_import.created == 4
    assert Patient.objects.filter(first_name="Pat", last_name="Morgan").count() == 2


def test_the_columns_chosen_are_checked_naming_the_field(world, admin):
    upload(admin, world)
    file = PatientImportFile.objects.get()

    missing = admin.post(
        reverse("patients:import_check", args=[file.pk]), columns(file, last_name="")
    )
    twice = admin.post(
        reverse("patients:import_check", args=[file.pk]), columns(file, email="Given Name")
    )
    unknown = admin.post(
        reverse("patients:import_check", args=[file.pk]), columns(file, address="Nowhere")
    )

    assert missing.status_code == twice.status_code == unknown.status_code == 400
    assert "Last name: choose the column that holds it." in missing.content.decode()
    assert (
        "E-mail and First name: one column holds one field; choose a column for each."
        in twice.content.decode()
    )
    assert "Select a valid choice. Nowhere is not one of the available choices." in (
        unknown.content.decode()
    )
    file.refresh_from_db()
    assert file.status == ImportFileStatus.MAPPING


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Prénom;Nom\n".encode("latin-1"), "The file is not UTF-8 text"),
        (b"", "The submitted file is empty."),
        (b"First name,Last name,Date of birth\n", "The file has no rows below its header."),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_with_the_reason(world, admin, content, message):
    response = admin.post(
        reverse("patients:imports"),
        {
            "file": SimpleUploadedFile("export.csv", content),
            "source_system": "Jane",
            "clinic": world.kelowna.pk,
        },
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PatientImportFile.objects.exists()


def test_a_file_too_large_is_refused_unread(world, admin, monkeypatch):
    monkeypatch.setattr(import_files, "LARGEST_FILE", 100)
    response = upload(admin, world)
    assert response.status_code == 400
    assert "The file is larger than 100\xa0bytes: split it in parts" in response.content.decode()
    assert not PatientImportFile.objects.exists()


def test_a_system_must_be_named(world, admin):
    response = upload(admin, world, source_system="  ")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not PatientImportFile.objects.exists()


@pytest.mark.parametrize("role", ["therapist", "manager", "front_desk"])
def test_only_organisation_admins_import(world, client_of, role):
    client = client_of(getattr(world, role))
    response = client.get(reverse("patients:imports"))
    assert response.status_code == 403
    assert "Only an organisation admin imports patients." in response.content.decode()
    assert upload(client, world).status_code == 403
    assert not PatientImportFile.objects.exists()
    patients = client.get(reverse("patients:list")).content.decode()
    assert reverse("patients:imports") not in patients


def test_another_organisations_file_is_not_found(world, admin, client_of, checked):
    theirs = client_of(world.other_admin)
    assert theirs.get(page(checked)).status_code == 404
    assert start(theirs, checked).status_code == 404
    assert theirs.get(reverse("patients:import_report", args=[checked.pk])).status_code == 404
    # Their own page lists none of it, and offers their own clinics only.
    listing = theirs.get(reverse("patients:imports")).content.decode()
    assert "jane.csv" not in listing and "Kelowna" not in listing
    assert reverse("patients:imports") in admin.get(reverse("patients:list")).content.decode()


def test_the_report_lists_every_row(world, admin, checked):
    response = admin.get(reverse("patients:import_report", args=[checked.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "\ufeffline,outcome,name,patient,reasons"
    assert len(lines) == 7
    assert lines[2] == '3,refused,Moreau,,"First name: empty, and every patient has one."'


def test_a_file_whose_job_was_lost_is_shown_stopped_and_can_be_checked_again(
    world, admin, django_capture_on_commit_callbacks
):
    upload(admin, world)
    file = PatientImportFile.objects.get()
    with django_capture_on_commit_callbacks(execute=False):  # the job never reaches a worker
        admin.post(reverse("patients:import_check", args=[file.pk]), columns(file))
    # Its last sign of life, longer ago than a worker ever stays silent.
    silent_since = timezone.now() - import_files.STALLED_AFTER - datetime.timedelta(minutes=1)
    PatientImportFile.objects.filter(pk=file.pk).update(progressed_at=silent_since)
    shown = admin.get(page(file)).content.decode()
    assert "The worker stopped before it finished: nothing was imported." in shown
    file.refresh_from_db()
    assert file.status == ImportFileStatus.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("patients:import_check", args=[file.pk]), columns(file))
    file.refresh_from_db()
    assert (file.status, file.error) == (ImportFileStatus.CHECKED, "")


def test_an_import_refused_at_the_worker_says_why_and_imports_nothing(
    world, admin, checked, django_capture_on_commit_callbacks
):
    world.kelowna.is_active = False  # the clinic closed between the dry run and the import
    world.kelowna.save(update_fields=["is_active"])
    with django_capture_on_commit_callbacks(execute=True):
        start(admin, checked)
    checked.refresh_from_db()
    assert checked.status == ImportFileStatus.FAILED
    assert "Kelowna is closed (inactive): choose an open clinic." in checked.error
    assert not PatientImport.objects.exists()
    assert not Patient.objects.filter(imported_from="Jane").exists()


def test_a_file_is_discarded_with_its_text(world, admin):
    upload(admin, world)
    file = PatientImportFile.objects.get()
    response = admin.post(reverse("patients:import_discard", args=[file.pk]), follow=True)
    assert "jane.csv was discarded." in response.content.decode()
    assert not PatientImportFile.objects.exists()


def test_an_import_under_a_dry_run_checked_again_since_is_refused(
    world, admin, checked, django_capture_on_commit_callbacks
):
    shown = PatientImportFile.objects.get(pk=checked.pk)  # the page of the first dry run
    with django_capture_on_commit_callbacks(execute=True):  # checked again in another tab
        admin.post(reverse("patients:import_check", args=[checked.pk]), columns(checked))
    response = start(admin, shown, follow=True)
    assert "The file was checked again since this page was shown" in response.content.decode()
    checked.refresh_from_db()
    assert checked.status == ImportFileStatus.CHECKED
    assert not Patient.objects.filter(imported_from="Jane").exists()


def test_the_worker_runs_as_the_admin_who_asked_and_stops_when_they_no_longer_may(
    world, admin, client_of, checked, django_capture_on_commit_callbacks
):
    other_admin = staff(Role.ORG_ADMIN, organization=world.organization)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        start(admin, checked)
    # Olivia, who pressed Import, loses the role before the worker takes the file.
    Membership.objects.filter(user=world.org_admin).delete()
    access.forget_grants(world.org_admin)
    for job in queued:
        job()
    checked.refresh_from_db()
    assert checked.status == ImportFileStatus.FAILED
    assert checked.error == "Only an organisation admin imports patients."
    assert not Patient.objects.filter(imported_from="Jane").exists()

    # Another admin checks it again and imports it: the import is theirs.
    theirs = client_of(other_admin)
    with django_capture_on_commit_callbacks(execute=True):
        theirs.post(reverse("patients:import_check", args=[checked.pk]), columns(checked))
    checked.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        start(theirs, checked)
    checked.refresh_from_db()
    assert checked.status == ImportFileStatus.IMPORTED
    assert checked.patient_import.imported_by == other_admin
    assert Patient.objects.filter(imported_from="Jane", created_by=other_admin).count() == 3


def test_a_page_refreshing_itself_during_an_import_reads_nobody(
    world, admin, checked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not finished
        start(admin, checked)
    before = RecordRead.objects.count()
    for _ in range(3):
        shown = admin.get(page(checked)).content.decode()
        assert "Likely duplicates" not in shown
    assert RecordRead.objects.count() == before


def test_the_report_never_hands_a_spreadsheet_a_formula(
    world, admin, django_capture_on_commit_callbacks
):
    upload(admin, world, JANE + 'J-7,"=HYPERLINK(""http://x.test"")",Lee,01/01/1980,,,\n')
    file = PatientImportFile.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("patients:import_check", args=[file.pk]), columns(file))
    response = admin.get(reverse("patients:import_report", args=[file.pk]))
    report = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in report
    assert ",=HYPERLINK" not in report and ',"=HYPERLINK' not in report
