"""`manage.py seed_bench`: a clinic network's data, whole, repeatable from its seed, history
included, and never on top of a database already in use; and the load it goes through
(clinics/bulk.py), which leaves every index, constraint and trigger as it found them and
lands whole or not at all.

The seeding works as the tables' owner (it sets their indexes aside), so these tests' own
transactions are the owner's (`as_database_owner`)."""

import datetime
import io
import re
import uuid

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from aftercare import triage
from aftercare.models import AftercarePlan, Alert, CheckIn, CheckInAnswer
from aftercare.services.plans import settings_of
from clinics import bulk
from clinics.models import Clinic, Membership, Organization, Role
from patients.models import ConsentSignature, Patient, ScreeningResponse
from patients.selectors import clinical_statuses
from sessions.models import Chart, NeedleSite, Status, TreatmentSession

SCALE = 0.0005  # 1 organisation, 1 clinic, 1 therapist, 100 patients, 1,000 sessions
NOW = datetime.datetime(2026, 3, 4, 15, tzinfo=datetime.UTC)


def seeded(seed: int = 2026) -> str:
    output = io.StringIO()
    call_command("seed_bench", scale=SCALE, seed=seed, stdout=output, stderr=io.StringIO())
    return output.getvalue()


def history_of(model) -> int:
    events = model.pgh_event_models["insert"]
    return events.objects.filter(pgh_label="insert").count()


def test_seed_bench_writes_a_network_with_signed_charted_sessions_and_their_history(
    as_database_owner, db
):
    with time_machine.travel(NOW, tick=False):
        summary = seeded()
    assert "1,000 charts" in summary and "100 patients" in summary
    organization = Organization.objects.get()
    clinic = Clinic.objects.get()
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {Role.ORG_ADMIN, Role.CLINIC_MANAGER, Role.FRONT_DESK, Role.THERAPIST}
    assert Patient.objects.filter(organization=organization, home_clinic=clinic).count() == 100
    assert ScreeningResponse.objects.count() == ConsentSignature.objects.count() == 100
    signed = TreatmentSession.objects.filter(status=Status.SIGNED)
    assert signed.count() == 1000 and signed.filter(starts_at__lt=NOW).count() == 1000
    # The coming month is booked, from today on.
    booked = TreatmentSession.objects.exclude(status=Status.SIGNED)
    assert set(booked.values_list("status", flat=True)) == {Status.BOOKED}
    assert booked.filter(starts_at__date__gte=NOW.date()).count() == booked.count() > 0
    assert Chart.objects.count() == 1000
    assert 2000 <= NeedleSite.objects.count() <= 4000
    # Each signed session has its issued plan and its check-ins at the organisation's hours;
    # patients with a portal login answered most of those sent, a few raising an alert.
    assert AftercarePlan.objects.filter(status="issued").count() == 1000
    hours = settings_of(organization).check_in_hours
    assert CheckIn.objects.count() == 1000 * len(hours)
    assert CheckIn.objects.filter(sent_at__isnull=True, due_at__lte=NOW).count() == 0
    answers = CheckInAnswer.objects.all()
    assert 0 < answers.count() < CheckIn.objects.filter(sent_at__isnull=False).count()
    assert not answers.filter(answered_by__isnull=True).exists()
    assert Patient.objects.filter(user__isnull=False).count() in range(40, 80)
    assert Alert.objects.count() == answers.filter(triage="alert").count()
    # The answers follow the triage rules, as the patients' own would have been filed.
    for answer in answers.select_related("check_in"):
        assessed = triage.assess(
            triage.Answers(
                *(answer.soreness, answer.pain, answer.trend, answer.chest_pain),
                *(answer.short_of_breath, answer.infection_signs, answer.nerve_symptoms),
                hours_after=answer.check_in.hours_after,
            )
        )
        assert (assessed.level, list(assessed.reasons)) == (answer.triage, answer.triage_reasons)
    # Each row's insert is in its history, as pghistory's trigger writes it.
    for model in (
        *(Patient, TreatmentSession, Chart, NeedleSite, ScreeningResponse, Membership),
        *(AftercarePlan, CheckIn, CheckInAnswer, Alert),
    ):
        assert history_of(model) == model.objects.count(), model
    # The database's own rules hold: no therapist or patient in two places at once...
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM treatment_sessions_treatmentsession a "
            "JOIN treatment_sessions_treatmentsession b ON a.id < b.id "
            "AND (a.therapist_id = b.therapist_id OR a.patient_id = b.patient_id) "
            "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"
        )
        assert cursor.fetchone() == (0,)
    # ...and every seeded patient may be needled: screened, consented, nothing against it.
    with time_machine.travel(NOW, tick=False):
        statuses = clinical_statuses(list(Patient.objects.all()[:20]))
    assert all(status.screening_valid and status.consent_valid for status in statuses.values())


def snapshot() -> tuple[list, list, list]:
    patients = Patient.objects.order_by("id").values_list("id", "first_name", "date_of_birth")
    visits = TreatmentSession.objects.order_by("id").values_list("id", "patient_id", "starts_at")
    answers = CheckInAnswer.objects.order_by("id").values_list("id", "pain", "answered_at")
    return list(patients), list(visits), list(answers)


def test_the_same_seed_writes_the_same_data_and_another_seed_other_data(as_database_owner, db):
    runs = {}
    with time_machine.travel(NOW, tick=False):
        for name, seed in (("first", 7), ("again", 7), ("other", 8)):
            with transaction.atomic():
                seeded(seed=seed)
                runs[name] = snapshot()
                transaction.set_rollback(True)  # empty again for the next run
    assert all(runs["first"])
    assert runs["first"] == runs["again"]
    assert runs["first"][0] != runs["other"][0]


def spelled(definition: str) -> str:
    """A definition without its casts and brackets: PostgreSQL prints a condition it read
    back from its own printing with the casts in other places (`ARRAY['a'::varchar]::text[]`
    becomes `ARRAY[('a'::varchar)::text]`), meaning the same."""
    return re.sub(r"::[a-z ]+(\[\])?|[()]", "", definition)


def catalog() -> dict:
    """Every index, constraint and trigger of the schema, and which are on."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        )
        constraints = [(*row[:2], spelled(row[2]), row[3]) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        )
        indexes = [(name, spelled(definition)) for name, definition in cursor.fetchall()]
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY 1, 2"
        )
        triggers = cursor.fetchall()
        cursor.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1"
        )
        security = cursor.fetchall()
    return {
        "constraints": constraints,
        "indexes": indexes,
        "triggers": triggers,
        "security": security,
    }


def test_the_load_puts_back_every_index_constraint_trigger_and_row_security(as_database_owner, db):
    before = catalog()
    with time_machine.travel(NOW, tick=False):
        seeded()
    assert TreatmentSession.objects.exists()
    assert catalog() == before


def membership(organization, user_id) -> tuple:
    return (uuid.uuid4(), organization.pk, user_id, Role.ORG_ADMIN, "", NOW)


MEMBERSHIP = ["id", "organization_id", "user_id", "role", "credential", "created_at"]


def test_a_row_that_breaks_a_constraint_fails_the_whole_load_naming_it(as_database_owner, db):
    before = catalog()
    organization = Organization.objects.create(name="Loading Physio")
    nobody = uuid.uuid4()
    expected = r'violates foreign key constraint "clinics_membership_user_id_\w+"'
    with pytest.raises(IntegrityError, match=expected), transaction.atomic(), bulk.loading():
        bulk.insert(Membership, MEMBERSHIP, [membership(organization, nobody)])
    assert not Membership.objects.exists()
    assert catalog() == before


def test_a_load_writes_only_into_empty_tables_and_only_inside_a_loading(as_database_owner, db):
    organization = Organization.objects.create(name="Loading Physio")
    admin = User.objects.create(email="admin@loading.test")
    Membership.objects.create(organization=organization, user=admin, role=Role.ORG_ADMIN)
    with pytest.raises(RuntimeError, match=r"inside bulk\.loading"):
        bulk.insert(Membership, MEMBERSHIP, [membership(organization, admin.pk)])
    refused = "a load fills empty tables; clinics_membership has rows"
    with pytest.raises(ValueError, match=refused), transaction.atomic(), bulk.loading():
        bulk.insert(Membership, MEMBERSHIP, [membership(organization, admin.pk)])
    assert Membership.objects.count() == 1


def test_a_database_in_use_is_refused_and_left_as_it_was(as_database_owner, db):
    Organization.objects.create(name="A real clinic")
    with pytest.raises(CommandError, match="fills an empty database; this one has 1 organis"):
        seeded()
    assert Organization.objects.count() == 1 and not Patient.objects.exists()


def test_a_scale_out_of_bounds_is_refused_naming_it(as_database_owner, db):
    for scale in (0, -1, 11):
        with pytest.raises(CommandError, match=r"--scale: .* is not above 0 and at most 10"):
            call_command("seed_bench", scale=scale)
