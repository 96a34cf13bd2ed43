"""`manage.py seed_bench`: fill an empty database with a clinic network's data (clinics.bench)."""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from clinics import bulk, database_roles, row_security
from clinics.bench import DEFAULT_SIZES, PASSWORD, Seeding
from clinics.models import Organization


class Command(BaseCommand):
    help = (
        "Fill an empty database with a clinic network's data for benchmarks: by default "
        + ", ".join(f"{number:,} {what}" for what, number in DEFAULT_SIZES.items())
        + ", with screening, consent, charts and needle sites. Repeatable from --seed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="a fraction (or multiple) of the default sizes, such as 0.01 for a quick run",
        )
        parser.add_argument("--seed", type=int, default=2026, help="the same seed, the same data")

    @row_security.every_organization()  # a command works for the clinics, not one person
    def handle(self, *args, scale: float, seed: int, **options):
        if not 0 < scale <= 10:
            raise CommandError(f"--scale: {scale} is not above 0 and at most 10.")
        existing = Organization.objects.count()
        if existing:
            raise CommandError(
                f"seed_bench fills an empty database; this one has {existing} organisation(s). "
                "Point it at a new database (make seed-bench BENCH_DATABASE=another, or "
                "DATABASE_URL)."
            )
        started = time.monotonic()
        seeding = Seeding(scale=scale, seed=seed, now=timezone.now(), progress=self._progress)
        # As the tables' owner, who may set their indexes and constraints aside for the load
        # (clinics/bulk.py), in one transaction: a seeding is whole or absent. The few rows
        # written through the ORM are checked at each statement, so that none is pending
        # when a table is set aside.
        with database_roles.as_owner():
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute("SET LOCAL synchronous_commit = off")
                with bulk.loading():
                    for seeder in settings.FASCIA_BENCH_SEEDERS:
                        import_string(seeder)(seeding)
                    self._progress("indexes and checks", 0, 1)
            self._progress("indexes and checks", 1, 1)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # the planner's statistics for the new rows
        elapsed = time.monotonic() - started
        rows = sum(seeding.written.values())
        self.stdout.write(
            self.style.SUCCESS(f"Seeded in {elapsed:.0f} s ({rows / elapsed:,.0f} rows/s):")
        )
        for what, number in seeding.written.items():
            self.stdout.write(f"  {number:>12,} {what}")
        self.stdout.write(f"Every login's password: {PASSWORD}")

    def _progress(self, what: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r{what:<16} [{bar}] {done:>10,} of {total:,}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
