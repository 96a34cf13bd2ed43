"""Importing patients from another system's CSV: how long the check and the import take.

    DEBUG=true .venv/bin/python benchmarks/patient_import.py [--patients 20000]

It uses a database of its own, `fascia_benchmark_import`, on the same server as the app,
made afresh each run: an organisation that already has a tenth as many patients as the
file (so that the duplicate check has rows to compare with), and a file of `--patients`
new patients, one in fifty a likely duplicate of a patient already there and one in a
hundred with a date of birth that is not a date. Times `manage.py import_patients` (in this
process): the dry run, the import, and the same file again (which adds nothing).
"""

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark_import"

import django

django.setup()

from django.core.management import call_command
from faker import Faker

from accounts.models import User
from benchmarks.database import open_benchmark_database
from clinics.models import Clinic, Membership, Organization, Role
from patients.models import Patient

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    options = parser.parse_args()

    open_benchmark_database(fresh=True)
    clinic, admin, known = _organisation(options.patients // 10)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "patients.csv"
        _write_file(source, options.patients, known)
        arguments = [
            str(source),
            "--organization",
            clinic.organization.name,
            "--clinic",
            clinic.name,
            "--by",
            admin.email,
            "--source",
            "Benchmark",
        ]
        for label, extra in (
            ("dry run", ["--dry-run"]),
            ("import", []),
            ("same file again", []),
        ):
            said = io.StringIO()
            started = time.perf_counter()
            call_command("import_patients", *arguments, *extra, stdout=said, stderr=io.StringIO())
            took = time.perf_counter() - started
            summary = next(line for line in said.getvalue().splitlines() if " rows: " in line)
            print(f"{label:>16}: {took:6.1f} s  {summary}")


def _organisation(existing: int):
    """An organisation with a clinic, an admin and `existing` patients; those patients."""
    organization = Organization.objects.create(name="Import Physio")
    clinic = Clinic.objects.create(organization=organization, name="Main Street")
    admin = User.objects.create_user(
        email="import-admin@example.test", password=None, full_name="Ima Admin"
    )
    Membership.objects.create(organization=organization, user=admin, role=Role.ORG_ADMIN)
    fake = Faker()
    Faker.seed(17)
    known = Patient.objects.bulk_create(
        Patient(
            organization=organization,
            home_clinic=clinic,
            first_name=fake.first_name(),
            last_name=fake.last_name(),
            date_of_birth=fake.date_of_birth(minimum_age=12, maximum_age=90),
        )
        for _ in range(existing)
    )
    return clinic, admin, known


def _write_file(path: Path, count: int, known: list) -> None:
    fake = Faker()
    Faker.seed(29)
    chance = random.Random(31)  # noqa: S311 (which known patients a file repeats, not a secret)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["Patient ID", "First Name", "Last Name", "Date of Birth", "Email", "Mobile"]
        )
        for number in range(count):
            if number % 50 == 0 and known:
                twin = chance.choice(known)
                row = [twin.first_name, twin.last_name, twin.date_of_birth.isoformat(), "", ""]
            else:
                born = fake.date_of_birth(minimum_age=12, maximum_age=90)
                row = [
                    fake.first_name(),
                    fake.last_name(),
                    "31/31/1980" if number % 100 == 1 else born.isoformat(),
                    f"p{number}@example.test",
                    f"+1 250 {number // 10000:03d} {number % 10000:04d}",
                ]
            writer.writerow([f"B-{number}", *row])


if __name__ == "__main__":
    main()
