"""Finding patients fast: misspelt names, dates, phones and e-mails, within what one may see."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients import selectors
from tests.patients.factories import PatientFactory


@pytest.fixture
def patients(world):
    make = PatientFactory
    return {
        "margaret": make(
            home_clinic=world.kelowna,
            first_name="Margaret",
            last_name="Thompson",
            date_of_birth=datetime.date(1962, 4, 30),
            phone="+1 250 555 0142",
            email="maggie.t@example.test",
        ),
        "john": make(home_clinic=world.kelowna, first_name="John", last_name="Smith"),
        "mohammed": make(home_clinic=world.kelowna, first_name="Muhammad", last_name="Ali"),
        "nathan": make(home_clinic=world.kelowna, first_name="Nathan", last_name="Howe"),
        "vernon": make(home_clinic=world.vernon, first_name="Margaret", last_name="Thomson"),
        "halifax": make(home_clinic=world.halifax, first_name="Margaret", last_name="Thompson"),
    }


def found(user, query):
    return [patient.full_name for patient in selectors.search_patients(user, query)]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("Margret Thompsen", "Margaret Thompson"),
        ("thompson", "Margaret Thompson"),
        ("Jhon Smiht", "John Smith"),
        ("smyth", "John Smith"),
        ("Mohammed", "Muhammad Ali"),
        # Two letters typed the wrong way round, as in a hurry.
        ("Ntahan Howe", "Nathan Howe"),
        ("Nathan Hwoe", "Nathan Howe"),
        ("nahtan", "Nathan Howe"),
    ],
)
def test_a_misspelt_name_finds_the_patient(world, patients, query, name):
    assert found(world.therapist, query)[:1] == [name]


@pytest.mark.parametrize("query", ["1962-04-30", "30/04/1962", "30.04.1962"])
def test_a_birth_date_finds_the_patient(world, patients, query):
    assert found(world.therapist, query) == ["Margaret Thompson"]


@pytest.mark.parametrize("query", ["555 0142", "(250) 555-0142", "2505550142"])
def test_part_of_a_phone_number_finds_the_patient(world, patients, query):
    assert found(world.therapist, query) == ["Margaret Thompson"]


def test_an_email_finds_the_patient(world, patients):
    assert found(world.front_desk, "Maggie.T@") == ["Margaret Thompson"]


def test_search_stays_within_the_clinics_the_user_works_at(world, patients):
    assert found(world.therapist, "Margaret") == ["Margaret Thompson"]
    assert found(world.vernon_therapist, "Margaret") == ["Margaret Thomson"]
    assert sorted(found(world.org_admin, "Margaret")) == ["Margaret Thompson", "Margaret Thomson"]
    assert found(world.other_therapist, "Margaret") == ["Margaret Thompson"]


def test_the_closest_name_comes_first(world, patients):
    assert found(world.org_admin, "Margaret Thompson") == [
        "Margaret Thompson",
        "Margaret Thomson",
    ]


def test_nothing_typed_finds_nothing(world, patients):
    assert found(world.therapist, "   ") == []


def test_a_patient_finds_nobody(world, patients, patient):
    assert found(patient.user, "Margaret") == []
    assert found(patient.user, "Pat Morgan") == []


def test_statuses_cost_the_same_queries_for_one_patient_or_many(world, django_assert_num_queries):
    few = [PatientFactory(home_clinic=world.kelowna) for _ in range(2)]
    many = few + [PatientFactory(home_clinic=world.kelowna) for _ in range(8)]
    with django_assert_num_queries(5):
        selectors.clinical_statuses(few)
    with django_assert_num_queries(5):
        selectors.clinical_statuses(many)


def test_the_functions_search_filters_with_are_leakproof(world, patients):
    """Under row-level security PostgreSQL uses an index for a condition before the row's
    policy only when its functions are LEAKPROOF (clinics/row_security.py marks them at
    `migrate`): every function of every condition of each kind of search is."""
    not_leakproof = set()
    for query in ("Margret Thompsen", "maggie.t@", "555 0142", "1962-04-30"):
        with CaptureQueriesContext(connection) as captured:
            assert selectors.search_patients(world.therapist, query)
        search = next(
            sql["sql"]
            for sql in reversed(captured.captured_queries)
            if '"patients_patient"' in sql["sql"] and "LIMIT" in sql["sql"]
        )
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (VERBOSE) {search}")
            plan = "\n".join(line for (line,) in cursor.fetchall())
        for name in ("word_similarity_commutator_op", "dmetaphone", "upper", "textlike"):
            operator = {"word_similarity_commutator_op": "%>", "textlike": "~~"}.get(name, name)
            if operator in plan:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT bool_and(proleakproof) FROM pg_proc WHERE proname = %s "
                        "AND proargtypes[0] = 'text'::regtype",
                        [name],
                    )
                    if not cursor.fetchone()[0]:
                        not_leakproof.add(name)
    assert not_leakproof == set()
