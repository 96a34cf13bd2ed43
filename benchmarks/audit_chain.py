"""What the access log's hash chain costs per insert, and how fast verify_audit walks it.

    DEBUG=true .venv/bin/python benchmarks/audit_chain.py [--rows 10000] [--walk 200000]

It uses a database of its own, `fascia_benchmark_audit`, on the same server as
the app (the embedded one, or DATABASE_URL's), migrated on the first run and
kept (`--fresh` starts again). Times `--rows` RecordRead inserts by one
bulk_create and one by one, with the chain (its trigger and unique index) and without (each
run in a transaction rolled back, median of 5), then fills `--walk` rows in one
organisation's chain and times verify_audit's walk over them.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark_audit"

import django

django.setup()

from django.db import connection, transaction

from accounts.models import User
from benchmarks.database import open_benchmark_database
from clinics import database_roles
from clinics.audit_chain import verify_table
from clinics.models import Clinic, Organization
from patients.models import Patient, RecordRead

RUNS = 5


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--walk", type=int, default=200_000)
    parser.add_argument("--fresh", action="store_true", help="drop and migrate the database again")
    options = parser.parse_args()
    open_benchmark_database(fresh=options.fresh)
    # Switching the chain's trigger off, to compare, is the table owner's to do.
    with database_roles.as_owner():
        _measure(options)


def _measure(options) -> None:
    patient, reader = _setup()

    def reads(count: int) -> list[RecordRead]:
        return [
            RecordRead(
                organization_id=patient.organization_id,
                patient=patient,
                reader=reader,
                part="details",
                via="page",
            )
            for _ in range(count)
        ]

    def bulk() -> None:
        RecordRead.objects.bulk_create(reads(options.rows), batch_size=options.rows)

    def one_by_one() -> None:
        for row in reads(options.rows // 10):
            row.save(force_insert=True)

    print(f"{options.rows} rows by bulk_create, {options.rows // 10} one by one; median of {RUNS}")
    print("| insert | chained | trigger off | cost per row |")
    print("| --- | --- | --- | --- |")
    for name, work, count in (
        ("bulk_create", bulk, options.rows),
        ("one by one", one_by_one, options.rows // 10),
    ):
        chained = _median(work, chain=True)
        plain = _median(work, chain=False)
        per_row = (chained - plain) / count * 1e6
        print(f"| {name} | {chained * 1000:.0f} ms | {plain * 1000:.0f} ms | {per_row:.0f} µs |")

    have = RecordRead.objects.filter(organization_id=patient.organization_id).count()
    while have < options.walk:
        batch = min(10_000, options.walk - have)
        RecordRead.objects.bulk_create(reads(batch), batch_size=batch)
        have += batch
    started = time.perf_counter()
    report = verify_table(RecordRead)
    took = time.perf_counter() - started
    print(
        f"verify_audit walk: {report.rows} rows in {report.chains} chains, "
        f"{len(report.problems)} problems, {took:.1f} s ({report.rows / took:,.0f} rows/s)"
    )


def _setup() -> tuple[Patient, User]:
    organization, _ = Organization.objects.get_or_create(name="Benchmark Physio")
    clinic, _ = Clinic.objects.get_or_create(organization=organization, name="Benchmark")
    reader, _ = User.objects.get_or_create(email="reader@benchmark.test")
    patient = Patient.objects.filter(organization=organization).first()
    if patient is None:
        patient = Patient.objects.create(
            organization=organization,
            home_clinic=clinic,
            first_name="Bench",
            last_name="Mark",
            date_of_birth="1980-01-01",
        )
    return patient, reader


def _median(work, *, chain: bool) -> float:
    times = []
    for _ in range(RUNS):
        try:
            with transaction.atomic():
                if not chain:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'patients_recordread'"
                            "::regclass AND tgname LIKE 'pgtrigger_hash_chain_%%'"
                        )
                        (trigger,) = cursor.fetchone()
                        cursor.execute(f"ALTER TABLE patients_recordread DISABLE TRIGGER {trigger}")
                        # The chain's unique index is part of its cost too.
                        cursor.execute(
                            "ALTER TABLE patients_recordread"
                            " DROP CONSTRAINT patients_recordread_chain_seq"
                        )
                started = time.perf_counter()
                work()
                times.append(time.perf_counter() - started)
                raise Rollback
        except Rollback:
            pass
    return statistics.median(times)


if __name__ == "__main__":
    main()
