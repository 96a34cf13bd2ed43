"""`manage.py seed_bench`: a clinic network's data, whole, repeatable from its seed, history
included, and never on top of a database already in use."""

import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from clinics.models import Clinic, Membership, Organization, Role
from patients.models import ConsentSignature, Patient, ScreeningResponse
from patients.selectors import clinical_statuses
from sessions.models import Chart, NeedleSite, Status, TreatmentSession

SCALE = 0.0005  # 1 organisation, 1 clinic, 1 therapist, 100 patients, 1,000 sessions


def seeded(seed: int = 2026) -> str:
    output = io.StringIO()
    call_command("seed_bench", scale=SCALE, seed=seed, stdout=output, stderr=io.StringIO())
    return output.getvalue()


def history_of(model) -> int:
    events = model.pgh_event_models["insert"]
    return events.objects.filter(pgh_label="insert").count()


def test_seed_bench_writes_a_network_with_signed_charted_sessions_and_their_history(db):
    summary = seeded()
    assert "1,000 treatment sessions" in summary and "100 patients" in summary
    organization = Organization.objects.get()
    clinic = Clinic.objects.get()
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {Role.ORG_ADMIN, Role.CLINIC_MANAGER, Role.FRONT_DESK, Role.THERAPIST}
    assert Patient.objects.filter(organization=organization, home_clinic=clinic).count() == 100
    assert ScreeningResponse.objects.count() == ConsentSignature.objects.count() == 100
    sessions = TreatmentSession.objects.all()
    assert sessions.count() == 1000
    assert set(sessions.values_list("status", flat=True)) == {Status.SIGNED}
    assert Chart.objects.count() == 1000
    assert 2000 <= NeedleSite.objects.count() <= 4000
    # Each row's insert is in its history, as pghistory's trigger writes it.
    for model in (Patient, TreatmentSession, Chart, NeedleSite, ScreeningResponse):
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
    statuses = clinical_statuses(list(Patient.objects.all()[:20]))
    assert all(status.screening_valid and status.consent_valid for status in statuses.values())


def snapshot() -> tuple[list, list]:
    patients = Patient.objects.order_by("id").values_list("id", "first_name", "date_of_birth")
    visits = TreatmentSession.objects.order_by("id").values_list("id", "patient_id", "starts_at")
    return list(patients), list(visits)


def test_the_same_seed_writes_the_same_data_and_another_seed_other_data(db):
    runs = {}
    with time_machine.travel(datetime.datetime(2026, 3, 4, 15, tzinfo=datetime.UTC), tick=False):
        for name, seed in (("first", 7), ("again", 7), ("other", 8)):
            with transaction.atomic():
                seeded(seed=seed)
                runs[name] = snapshot()
                transaction.set_rollback(True)  # empty again for the next run
    assert runs["first"][0] and runs["first"][1]
    assert runs["first"] == runs["again"]
    assert runs["first"][0] != runs["other"][0]


def test_a_database_in_use_is_refused_and_left_as_it_was(db):
    Organization.objects.create(name="A real clinic")
    with pytest.raises(CommandError, match="fills an empty database; this one has 1 organis"):
        seeded()
    assert Organization.objects.count() == 1 and not Patient.objects.exists()


def test_a_scale_out_of_bounds_is_refused_naming_it(db):
    for scale in (0, -1, 11):
        with pytest.raises(CommandError, match=r"--scale: .* is not above 0 and at most 10"):
            call_command("seed_bench", scale=scale)
