"""The history tables refuse to be rewritten: every pghistory event table and the context table."""

import pghistory
import pytest
from django.db import DatabaseError, connection, transaction

from clinics.history import HistoryContext, history_models, unprotected_history
from patients.models import Patient, PatientEvent


# The triggers refuse even the owner of the tables, which the tests below log in as; the role
# Fascia runs as lacks the privilege in the first place (tests/config/test_least_privilege.py).
def _refused(sql: str, params=()) -> None:
    with (
        pytest.raises(DatabaseError, match=r"Cannot|only the context"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_every_history_table_of_every_app_refuses_update_and_delete(db):
    tables = {model._meta.db_table for model in history_models()}
    # Every app's event tables are enumerated, and the context table.
    assert {
        "clinics_membershipevent",
        "patients_patientevent",
        "treatment_sessions_chartevent",
        "aftercare_checkinevent",
        "pghistory_context",
    } <= tables
    assert len(tables) >= 40
    assert unprotected_history() == []


def test_a_disabled_or_missing_history_trigger_is_reported(as_database_owner, db):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE treatment_sessions_chartevent DISABLE TRIGGER ALL")
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'aftercare_checkinevent'::regclass"
            " AND tgname LIKE 'pgtrigger_append_only_%%'"
        )
        (name,) = cursor.fetchone()
        cursor.execute(f"DROP TRIGGER {name} ON aftercare_checkinevent")
    assert unprotected_history() == [
        "aftercare_checkinevent: trigger append_only is uninstalled in the database",
        "treatment_sessions_chartevent: trigger append_only is disabled in the database",
    ]


def test_an_event_row_is_neither_changed_nor_deleted(as_database_owner, world, patient):
    event = PatientEvent.objects.filter(pgh_obj=patient).get()
    _refused("UPDATE patients_patientevent SET last_name = 'Else' WHERE pgh_id = %s", [event.pk])
    _refused("DELETE FROM patients_patientevent WHERE pgh_id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        PatientEvent.objects.all().delete()
    assert PatientEvent.objects.get(pk=event.pk).last_name == patient.last_name


def test_the_running_request_adds_to_its_context_and_nothing_changes_it_later(
    as_database_owner, world, patient
):
    with pghistory.context(user=str(world.org_admin.pk), url="/patients/"):
        Patient.objects.filter(pk=patient.pk).update(phone="+1 250 555 0100")
        # pghistory upserts the context row again when the request adds to its metadata.
        pghistory.context(reason="Patient called")
        Patient.objects.filter(pk=patient.pk).update(phone="+1 250 555 0101")
    context = HistoryContext.objects.get()
    assert context.metadata == {
        "user": str(world.org_admin.pk),
        "url": "/patients/",
        "reason": "Patient called",
    }
    # Another transaction, outside that request: the row is kept as it was.
    _refused(
        "UPDATE pghistory_context SET metadata = '{\"user\": null}' WHERE id = %s", [context.pk]
    )
    _refused("DELETE FROM pghistory_context WHERE id = %s", [context.pk])
    with pghistory.context(url="/elsewhere/"):
        # Even a request of its own cannot reach another request's context.
        Patient.objects.filter(pk=patient.pk).update(phone="+1 250 555 0102")
        _refused(
            "UPDATE pghistory_context SET metadata = metadata || %s::jsonb WHERE id = %s",
            ['{"url": "/x/"}', context.pk],
        )
    context.refresh_from_db()
    assert context.metadata["url"] == "/patients/"


def test_a_request_cannot_drop_what_its_context_already_says(world, patient):
    with pghistory.context(user=str(world.org_admin.pk)) as running:
        Patient.objects.filter(pk=patient.pk).update(phone="+1 250 555 0100")
        _refused("UPDATE pghistory_context SET metadata = '{}' WHERE id = %s", [str(running.id)])
