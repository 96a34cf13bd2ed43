"""Patients from another practice system (`manage.py import_patients`): the dry run, the
refusals, the duplicates, all or nothing, and the same file twice adding nothing."""

import csv
import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from patients.models import Patient, PatientImport
from patients.services import imports as import_services
from tests.patients.factories import PatientFactory
from tests.processes import race

CLINIKO = """Patient ID,First Name,Last Name,Date of Birth,Email,Mobile,Address
C-1,Ana,Silva,1985-04-12,ana@example.test,+1 250 555 0101,1 Main St
C-2,,Moreau,1990-01-01,,,
C-3,Ben,Okafor,31/12/1979,,,
C-4,Ada,Quinn,{ada_born},,,
C-5,Ana,Silva,1985-04-12,,,
C-6,Chen,Wu,1972-07-30,chen@example.test,,
"""


def run(world, text: str, tmp_path, *args: str) -> str:
    source = tmp_path / "patients.csv"
    source.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command(
        "import_patients",
        str(source),
        "--organization",
        world.organization.name,
        "--clinic",
        "Kelowna",
        "--by",
        world.org_admin.email,
        "--source",
        "Cliniko",
        *args,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def cliniko(world) -> str:
    ada = world.kelowna_record().patient
    return CLINIKO.format(ada_born=ada.date_of_birth.isoformat())


def test_a_dry_run_says_what_each_row_would_become_and_writes_nothing(world, tmp_path):
    text = cliniko(world)
    before = Patient.objects.count()
    said = run(world, text, tmp_path, "--dry-run")

    assert "6 rows: 2 new, 0 already imported, 2 likely duplicates (left out), 2 refused." in said
    assert "line 3 Moreau: First name: empty, and every patient has one." in said
    assert "line 4 Ben Okafor: Date of birth: '31/12/1979' is not a date as YYYY-MM-DD" in said
    assert "line 5 Ada Quinn: May be Ada Quinn" in said
    assert "line 6 Ana Silva: May be the same person as line 2" in said
    assert "First name                         <- First Name" in said
    assert "Patient id                         <- Patient ID" in said
    assert "Dry run: nothing was written." in said
    assert Patient.objects.count() == before
    assert not PatientImport.objects.exists()


def test_the_import_registers_the_new_patients_and_a_second_run_adds_nothing(world, tmp_path):
    text = cliniko(world)
    said = run(world, text, tmp_path, "--date-format", "dmy")
    assert "Imported 3 patients" in said  # Ben's date read day first
    ana = Patient.objects.get(imported_from="Cliniko", imported_id="C-1")
    assert (ana.first_name, ana.email, ana.home_clinic) == (
        "Ana",
        "ana@example.test",
        world.kelowna,
    )
    assert ana.created_by == world.org_admin
    ben = Patient.objects.get(imported_id="C-3")
    assert ben.date_of_birth.isoformat() == "1979-12-31"
    [record] = PatientImport.objects.all()
    assert (record.rows, record.created, record.duplicates, record.refused) == (6, 3, 2, 1)
    assert {row["line"]: row["outcome"] for row in record.report}[5] == "duplicate"

    count = Patient.objects.count()
    again = run(world, text, tmp_path, "--date-format", "dmy")
    assert "3 already imported" in again
    assert "Imported 0 patients" in again
    assert Patient.objects.count() == count


def test_the_report_lists_every_row_with_what_became_of_it(world, tmp_path):
    report = tmp_path / "report.csv"
    run(world, cliniko(world), tmp_path, "--dry-run", "--report", str(report))
    lines = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(line["line"], line["outcome"]) for line in lines] == [
        ("2", "new"),
        ("3", "refused"),
        ("4", "refused"),
        ("5", "duplicate"),
        ("6", "duplicate"),
        ("7", "new"),
    ]
    ada = world.kelowna_record().patient
    assert lines[3]["patient"] == str(ada.pk)  # the record it may be


def test_likely_duplicates_are_taken_when_asked(world, tmp_path):
    said = run(world, cliniko(world), tmp_path, "--include-duplicates")
    assert "2 likely duplicates (imported too)" in said
    assert "Imported 4 patients" in said
    assert Patient.objects.filter(first_name="Ada", last_name="Quinn").count() == 2


def test_all_or_nothing_when_the_database_refuses_half_way(world, tmp_path, monkeypatch):
    rows = "\n".join(f"X-{n},Pat{n},Lee,1980-01-{n + 10:02d}" for n in range(5))
    text = f"id,first name,last name,dob\n{rows}\n"
    monkeypatch.setattr(import_services, "BATCH", 2)
    calls = []
    real = type(Patient.objects).bulk_create

    def refused_on_the_third_batch(manager, objs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(manager, objs, *args, **kwargs)

    monkeypatch.setattr(type(Patient.objects), "bulk_create", refused_on_the_third_batch)
    before = Patient.objects.count()
    with pytest.raises(RuntimeError):
        run(world, text, tmp_path)
    assert len(calls) == 3
    assert Patient.objects.count() == before
    assert not PatientImport.objects.exists()


def test_headers_of_other_systems_are_recognised_and_a_missing_column_named(world, tmp_path):
    jane = "Client ID;Given Name;Surname;Birthdate;E-mail Address\nJ7;Noa;Levi;1991-03-03;\n"
    assert "1 rows: 1 new" in run(world, jane, tmp_path, "--dry-run")
    with pytest.raises(CommandError, match="No column for Date of birth"):
        run(world, "id,first name,last name\n1,A,B\n", tmp_path)
    mapped = run(
        world,
        "Ref,Nom,Prenom,Ne le\nF1,Martin,Lea,1999-09-09\n",
        tmp_path,
        "--dry-run",
        "--map",
        "first_name=Prenom",
        "--map",
        "last_name=Nom",
        "--map",
        "date_of_birth=Ne le",
        "--map",
        "imported_id=Ref",
    )
    assert "1 rows: 1 new" in mapped


def test_the_same_id_twice_in_a_file_is_refused(world, tmp_path):
    text = "id,first name,last name,dob\nK1,Ida,Roe,1970-01-01\nK1,Jo,Poe,1971-01-01\n"
    said = run(world, text, tmp_path, "--dry-run")
    assert "line 3 Jo Poe: Patient id: K1 is on line 2 too." in said


@pytest.mark.parametrize("role", ["therapist", "manager", "front_desk"])
def test_only_organisation_admins_import(world, tmp_path, role):
    source = tmp_path / "patients.csv"
    source.write_text("first name,last name,dob\nA,B,1980-01-01\n")
    with pytest.raises(CommandError, match="Only an organisation admin imports patients"):
        call_command(
            "import_patients",
            str(source),
            "--organization",
            world.organization.name,
            "--clinic",
            "Kelowna",
            "--by",
            getattr(world, role).email,
            "--source",
            "Cliniko",
        )


def test_a_patient_of_another_organisation_is_no_duplicate(world, tmp_path):
    maren = world.other_record().patient
    text = f"first name,last name,dob\n{maren.first_name},{maren.last_name},{maren.date_of_birth}\n"
    assert "1 rows: 1 new" in run(world, text, tmp_path, "--dry-run")
    PatientFactory(
        home_clinic=world.kelowna,
        first_name=maren.first_name,
        last_name=maren.last_name,
        date_of_birth=maren.date_of_birth,
    )
    assert "1 likely duplicates" in run(world, text, tmp_path, "--dry-run")


@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_registers_each_patient_once(world):
    text = "id,first name,last name,dob\nR1,Ida,Roe,1970-01-01\nR2,Jo,Poe,1971-01-01\n"
    holding, release, created = threading.Event(), threading.Event(), []

    def importing(progress=None):
        def run_import():
            try:
                _plan, record = import_services.import_patients(
                    organization=world.organization,
                    clinic=world.kelowna,
                    by=world.org_admin,
                    source_system="Cliniko",
                    text=text,
                    progress=progress,
                )
                created.append(record.created)
            finally:
                connection.close()

        return run_import

    def checked_then_held(stage, done, total):
        """The first import holds its lock here, its rows checked, until the second waits."""
        if not holding.is_set():
            holding.set()
            release.wait(10)

    race(importing(checked_then_held), importing(), holding=holding, release=release)
    assert sorted(created) == [0, 2]
    assert Patient.objects.filter(imported_from="Cliniko").count() == 2


def test_a_row_with_more_cells_than_columns_or_too_long_an_id_is_refused(world, tmp_path):
    text = (
        "id,first name,last name,dob,address\n"
        "Q1,Ann,Lee,1980-01-01,12 Main St, Apt 4\n"
        f"{'Q' * 101},Bo,Lee,1981-01-01,\n"
    )
    said = run(world, text, tmp_path, "--dry-run")
    assert "line 2 Ann Lee: The row has more cells than the file has columns" in said
    assert "line 3 Bo Lee: Patient id: at most 100 characters." in said
