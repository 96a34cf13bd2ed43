"""The access log is hash-chained by the database, and verify_audit finds any row changed,
removed, moved or slipped in by someone holding the database (triggers off)."""

import hashlib
import importlib
import io
import threading
import uuid

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from clinics.audit_chain import CHAINED_MODELS, GENESIS, HashChained
from patients.models import ReadVia, RecordPart, RecordRead
from patients.services.audit import record_read, record_reads
from patients.services.merge import merge_patients
from tests.patients.factories import PatientFactory
from tests.processes import wait_for

chain_existing_reads = importlib.import_module(
    "patients.migrations.0011_access_log_hash_chained"
).CHAIN_EXISTING_READS


def read(world, patient, *, part=RecordPart.DETAILS) -> RecordRead:
    record_read(reader=world.therapist, patient=patient, part=part, via=ReadVia.PAGE)
    return RecordRead.objects.order_by("chain_seq").filter(organization=patient.organization).last()


def reads(world, patient, count: int) -> list[RecordRead]:
    return [read(world, patient) for _ in range(count)]


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def verify_fails() -> str:
    out = io.StringIO()
    with pytest.raises(CommandError, match="The audit is not intact"):
        call_command("verify_audit", stdout=out)
    return out.getvalue()


def as_the_database_owner(sql: str, params=()) -> None:
    """What someone holding the database does: triggers off (a superuser's setting), a change."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def content_hash(row: RecordRead) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_chain_content(t) FROM patients_recordread t WHERE id = %s", [row.pk]
        )
        (content,) = cursor.fetchone()
    return hashlib.sha256(content.encode()).hexdigest()


def test_each_read_is_linked_to_the_one_before_in_its_organisations_chain(world, patient):
    first, second, third = reads(world, patient, 3)
    other = read(world, PatientFactory(home_clinic=world.halifax))
    assert [first.chain_seq, second.chain_seq, third.chain_seq] == [1, 2, 3]
    assert first.chain_previous_hash == GENESIS
    assert second.chain_previous_hash == first.chain_hash
    assert third.chain_previous_hash == second.chain_hash
    # Another organisation has a chain of its own.
    assert (other.chain_seq, other.chain_previous_hash) == (1, GENESIS)
    assert {row.chain_hash for row in (first, second, third, other)} == {
        content_hash(row) for row in (first, second, third, other)
    }


def test_the_database_chains_whatever_the_app_sends_and_returns_it(world, patient):
    row = RecordRead.objects.create(
        organization=world.organization,
        patient=patient,
        reader=world.therapist,
        part=RecordPart.DETAILS,
        via=ReadVia.API,
        chain_seq=99,
        chain_previous_hash="f" * 64,
        chain_hash="f" * 64,
    )
    # The values the trigger set, not the ones sent (RETURNING brings them back).
    assert (row.chain_seq, row.chain_previous_hash) == (1, GENESIS)
    assert row.chain_hash == content_hash(row)


def test_a_list_is_one_chained_row_naming_each_of_its_patients(world, patient):
    read(world, patient)
    others = PatientFactory.create_batch(4, home_clinic=world.kelowna)
    record_reads(reader=world.therapist, patients=others, part=RecordPart.DETAILS, via="api")
    first, listed = RecordRead.objects.order_by("chain_seq")
    assert (listed.chain_seq, listed.chain_previous_hash) == (2, first.chain_hash)
    assert (listed.patient, sorted(listed.patients)) == (None, sorted(p.pk for p in others))
    assert listed.chain_hash == content_hash(listed)
    assert "patients_recordread: 2 rows in 1 chains, every row intact and linked" in verify()


def test_a_patient_taken_off_a_lists_read_is_found(as_database_owner, world, patient):
    others = PatientFactory.create_batch(3, home_clinic=world.kelowna)
    record_reads(reader=world.therapist, patients=others, part=RecordPart.LIST, via="page")
    listed = RecordRead.objects.get()
    as_the_database_owner(
        "UPDATE patients_recordread SET patients = patients[1:2] WHERE id = %s", [listed.pk]
    )
    assert (
        f"row {listed.pk} (seq 1): changed: its content no longer matches its hash"
    ) in verify_fails()


def test_a_clean_audit_passes_with_one_line_per_table(world, patient):
    reads(world, patient, 2)
    read(world, PatientFactory(home_clinic=world.halifax))
    output = verify()
    assert "patients_recordread: 3 rows in 2 chains, every row intact and linked" in output
    assert "history: " in output
    assert "The audit is intact." in output


def test_the_newest_row_of_each_chain_is_printed_to_keep_elsewhere(world, patient):
    _, newest = reads(world, patient, 2)
    out = io.StringIO()
    call_command("verify_audit", "--heads", stdout=out)
    assert (
        f"patients_recordread, organisation {world.organization.pk}: newest row {newest.pk} "
        f"(seq 2) hash {newest.chain_hash}"
    ) in out.getvalue()


def test_a_changed_row_is_found(as_database_owner, world, patient):
    _, second, _ = reads(world, patient, 3)
    as_the_database_owner(
        "UPDATE patients_recordread SET part = 'consent' WHERE id = %s", [second.pk]
    )
    output = verify_fails()
    assert (
        f"patients_recordread, organisation {world.organization.pk}, row {second.pk} (seq 2): "
        "changed: its content no longer matches its hash"
    ) in output


def test_a_changed_row_whose_hash_was_recomputed_is_found_by_the_next_row(
    as_database_owner, world, patient
):
    _, second, third = reads(world, patient, 3)
    as_the_database_owner(
        "UPDATE patients_recordread SET part = 'consent' WHERE id = %s", [second.pk]
    )
    as_the_database_owner(
        "UPDATE patients_recordread SET chain_hash = %s WHERE id = %s",
        [content_hash(second), second.pk],
    )
    output = verify_fails()
    assert f"row {third.pk} (seq 3): its previous hash is no row's" in output
    assert "changed:" not in output


def test_a_deleted_row_is_found(as_database_owner, world, patient):
    _, second, third = reads(world, patient, 3)
    as_the_database_owner("DELETE FROM patients_recordread WHERE id = %s", [second.pk])
    output = verify_fails()
    assert f"row {third.pk} (seq 3): missing before it: seq 2 (deleted)" in output


def test_two_rows_swapped_in_order_are_found(as_database_owner, world, patient):
    first, second, third, _ = reads(world, patient, 4)
    for seq, row in ((-1, second), (2, third), (3, second)):
        as_the_database_owner(
            "UPDATE patients_recordread SET chain_seq = %s WHERE id = %s", [seq, row.pk]
        )
    output = verify_fails()
    assert (
        f"row {third.pk} (seq 2): out of order: it follows row {second.pk} (seq 3), "
        "which comes after it"
    ) in output
    assert (
        f"row {second.pk} (seq 3): out of order: it follows row {first.pk} (seq 1), "
        f"not row {third.pk} (seq 2)"
    ) in output
    assert "changed:" not in output


def test_a_row_inserted_with_the_chain_trigger_off_is_found(as_database_owner, world, patient):
    reads(world, patient, 2)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            slipped = RecordRead.objects.create(
                organization=world.organization,
                patient=patient,
                reader=world.front_desk,
                part=RecordPart.CONSENT,
                via=ReadVia.ADMIN,
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    output = verify_fails()
    assert f"row {slipped.pk} (seq 0): not chained" in output


def test_a_row_forged_at_the_end_of_the_chain_is_found(as_database_owner, world, patient):
    _, second = reads(world, patient, 2)
    forged = uuid.uuid4()
    as_the_database_owner(
        "INSERT INTO patients_recordread (id, organization_id, patient_id, reader_id, part, via,"
        " user_agent, read_at, chain_seq, chain_previous_hash, chain_hash)"
        " VALUES (%s, %s, %s, %s, 'consent', 'page', '', now(), 3, %s, %s)",
        [
            forged,
            world.organization.pk,
            patient.pk,
            world.front_desk.pk,
            second.chain_hash,
            second.chain_hash,
        ],
    )
    output = verify_fails()
    assert f"row {forged} (seq 3): changed: its content no longer matches its hash" in output


def test_a_disabled_chain_or_history_trigger_is_reported(as_database_owner, world, patient):
    read(world, patient)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER may run
        cursor.execute("ALTER TABLE patients_recordread DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE clinics_membershipevent DISABLE TRIGGER USER")
    output = verify_fails()
    assert "patients_recordread: trigger hash_chain is disabled in the database" in output
    assert "clinics_membershipevent: trigger append_only is disabled in the database" in output


def test_reads_logged_before_the_chain_are_chained_in_the_order_they_were_read(
    as_database_owner, world, patient
):
    with connection.cursor() as cursor:
        # As before the migration: no chain order yet, rows without chain values.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE patients_recordread DROP CONSTRAINT patients_recordread_chain_seq"
        )
        cursor.execute("SET session_replication_role = replica")
        try:
            later, earlier = (
                RecordRead.objects.create(
                    organization=world.organization,
                    patient=patient,
                    reader=world.therapist,
                    part=RecordPart.DETAILS,
                    via=ReadVia.PAGE,
                    read_at=at,
                )
                for at in ("2026-03-02T10:00:00Z", "2026-03-01T10:00:00Z")
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(chain_existing_reads)
        cursor.execute(
            "ALTER TABLE patients_recordread ADD CONSTRAINT patients_recordread_chain_seq"
            " UNIQUE NULLS NOT DISTINCT (organization_id, chain_seq)"
        )
    assert list(RecordRead.objects.order_by("chain_seq")) == [earlier, later]
    new = read(world, patient)
    assert new.chain_seq == 3
    assert "The audit is intact." in verify()


def test_every_model_with_the_chain_columns_is_walked_by_verify_audit():
    chained = {model._meta.label for model in apps.get_models() if issubclass(model, HashChained)}
    assert chained == set(CHAINED_MODELS)


def _waiting_for_a_chain() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_read_logged_while_another_is_uncommitted_waits_and_chains_after_it(world, patient):
    inserted, commit = threading.Event(), threading.Event()

    def first_reader():
        try:
            with transaction.atomic():
                read(world, patient, part=RecordPart.INTAKE)
                inserted.set()
                commit.wait(timeout=10)
        finally:
            connection.close()

    def second_reader():
        try:
            read(world, patient, part=RecordPart.CONSENT)
        finally:
            connection.close()

    first = threading.Thread(target=first_reader)
    first.start()
    assert inserted.wait(timeout=10)
    second = threading.Thread(target=second_reader)
    second.start()
    wait_for(_waiting_for_a_chain, seconds=10, what="the second read to wait for the chain")
    assert second.is_alive()
    commit.set()
    first.join()
    second.join()
    rows = list(RecordRead.objects.order_by("chain_seq"))
    assert [(row.part, row.chain_seq) for row in rows] == [("intake", 1), ("consent", 2)]
    assert rows[1].chain_previous_hash == rows[0].chain_hash
    assert "The audit is intact." in verify()


@pytest.mark.django_db(transaction=True)
def test_two_connections_logging_at_once_keep_one_unbroken_chain(world, patient):
    others = PatientFactory.create_batch(3, home_clinic=world.kelowna)
    start = threading.Barrier(2)
    failures = []

    def reader():
        try:
            start.wait(timeout=10)
            for _ in range(20):
                read(world, patient)
                record_reads(
                    reader=world.therapist, patients=others, part=RecordPart.CHART, via="page"
                )
        except Exception as error:  # handed to the test's thread, which fails on it
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    rows = list(RecordRead.objects.order_by("chain_seq"))
    assert [row.chain_seq for row in rows] == list(range(1, 81))
    assert "patients_recordread: 80 rows in 1 chains, every row intact and linked" in verify()


def test_a_merge_of_two_records_leaves_the_access_log_as_written(world, patient):
    twin = PatientFactory(home_clinic=world.kelowna, first_name="Pat", last_name="Morgan")
    kept_read, twin_read = read(world, patient), read(world, twin)
    merge_patients(keep=patient, merge_away=twin, by=world.org_admin, reason="Registered twice")
    assert RecordRead.objects.get(pk=twin_read.pk).patient_id == twin.pk
    assert RecordRead.objects.get(pk=kept_read.pk).patient_id == patient.pk
    assert "The audit is intact." in verify()
