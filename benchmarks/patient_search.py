"""Patient search at clinic scale: how long each kind of search takes, and which plan it uses.

    DEBUG=true .venv/bin/python benchmarks/patient_search.py [--patients 100000]

It uses a database of its own, `fascia_benchmark`, on the same server as the
app (the embedded one, or DATABASE_URL's), created and filled on the first
run and kept for the next ones (`--fresh` starts again). One organisation gets
the patients, a second one a tenth as many, so the tenant key has to narrow.
Prints the median of 25 runs of each query, and PostgreSQL's plan for the
name search.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TEST_DATABASE_NAME"] = "fascia_benchmark"

import django

django.setup()

from django.db import connection
from faker import Faker

from accounts.models import User
from benchmarks.database import open_benchmark_database
from clinics.models import Clinic, Membership, Organization, Role
from patients import selectors
from patients.models import Patient

RUNS = 25
BATCH = 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    options = parser.parse_args()

    open_benchmark_database(fresh=options.fresh)
    admin = _fill(options.patients)
    known = Patient.objects.filter(organization__name="Benchmark Physio").order_by("?").first()
    queries = {
        "misspelt full name": _misspell(known.full_name),
        "surname only": known.last_name,
        "sounds-alike first name": known.first_name.replace("ph", "f").replace("c", "k"),
        "date of birth": known.date_of_birth.isoformat(),
        "phone, last 7 digits": known.phone_digits[-7:],
        "e-mail prefix": known.email.split("@")[0] + "@",
    }
    total = Patient.objects.count()
    print(f"{total} patients, {options.patients} in the searched organisation")
    print(f"{'query':<26} {'typed':<28} {'median ms':>9} {'found':>6}")
    for label, query in queries.items():
        timings, found = [], 0
        for _ in range(RUNS):
            start = time.perf_counter()
            found = len(selectors.search_patients(admin, query))
            timings.append((time.perf_counter() - start) * 1000)
        print(f"{label:<26} {query!r:<28} {statistics.median(timings):>9.1f} {found:>6}")
    _explain(admin, queries["misspelt full name"])


def _fill(count: int) -> User:
    organization, _ = Organization.objects.get_or_create(name="Benchmark Physio")
    other, _ = Organization.objects.get_or_create(name="Other Physio")
    admin, _ = User.objects.get_or_create(email="bench-admin@example.test")
    Membership.objects.get_or_create(organization=organization, user=admin, role=Role.ORG_ADMIN)
    missing = count - Patient.objects.filter(organization=organization).count()
    for target, number in ((organization, missing), (other, count // 10)):
        clinics = [
            Clinic.objects.get_or_create(organization=target, name=f"Site {n}")[0] for n in range(3)
        ]
        if target is other:
            number -= Patient.objects.filter(organization=other).count()
        _add_patients(target, clinics, number)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient")
    return admin


def _add_patients(organization, clinics, number: int) -> None:
    fake = Faker(["en_CA", "fr_CA", "en_GB"])
    Faker.seed(number)
    made = 0
    while made < number:
        batch = []
        for _ in range(min(BATCH, number - made)):
            first, last = fake.first_name(), fake.last_name()
            batch.append(
                Patient(
                    organization=organization,
                    home_clinic=fake.random_element(clinics),
                    first_name=first,
                    last_name=last,
                    date_of_birth=fake.date_between(
                        datetime.date(1930, 1, 1), datetime.date(2020, 1, 1)
                    ),
                    email=f"{first}.{last}.{made}@example.test".lower().replace(" ", ""),
                    phone=fake.numerify("+1 ### 555 ####"),
                )
            )
            made += 1
        Patient.objects.bulk_create(batch)


def _misspell(name: str) -> str:
    """Swap two letters in the longer word, as a hurried typist does."""
    words = name.split()
    longest = max(range(len(words)), key=lambda index: len(words[index]))
    word = words[longest]
    if len(word) > 3:
        words[longest] = word[:1] + word[2] + word[1] + word[3:]
    return " ".join(words)


def _explain(admin, query: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET pg_trgm.word_similarity_threshold = 0.3")
        selectors_sql = _name_search_sql(admin, query)
        cursor.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + selectors_sql[0], selectors_sql[1]
        )
        print("\nPlan of the name search:")
        for (line,) in cursor.fetchall():
            print("  " + line)


def _name_search_sql(admin, query: str):
    captured = []

    def capture(execute, sql, params, many, context):
        if "search_name" in sql and "similarity" in sql.lower():
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        selectors.search_patients(admin, query)
    return captured[0]


if __name__ == "__main__":
    main()
