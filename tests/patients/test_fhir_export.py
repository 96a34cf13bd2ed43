"""A whole organisation's records as FHIR R4 NDJSON (Bulk Data style): kick-off, polling, the
files, and what happens on a double click, a crash, a lost database, a cancel."""

import datetime
import json

import pytest
import time_machine
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from clinics.models import Role
from patients import fhir
from patients.models import ExportStatus, FhirExport, FhirExportFile, Patient, RecordRead
from patients.services import fhir_export
from tests.clinics.factories import staff
from tests.patients.factories import PatientFactory


def kick_off(client, query: str = ""):
    return client.post(f"{reverse('fhir-export')}{query}")


def exported(client, capture, query: str = "") -> dict:
    """Ask for an export, let the worker write it, and read the manifest."""
    with capture(execute=True):
        started = kick_off(client, query)
    assert started.status_code == 202, started.content
    status = client.get(started["Content-Location"])
    assert status.status_code == 200, status.content
    return status.json()


def lines_of(client, manifest: dict) -> dict[str, list[dict]]:
    """Each file of the manifest, its lines parsed as JSON and by the R4B classes."""
    files = {}
    for output in manifest["output"]:
        response = client.get(output["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        body = b"".join(response.streaming_content).decode()
        resources = [json.loads(line) for line in body.splitlines()]
        assert len(resources) == output["count"]
        for resource in resources:
            assert resource["resourceType"] == output["type"]
            get_fhir_model_class(output["type"]).model_validate(resource)
        files[output["type"]] = resources
    return files


def ids(resources: list[dict]) -> list[str]:
    return [resource["id"] for resource in resources]


def test_an_admin_exports_the_organisation_and_every_line_parses(
    world, client_of, django_capture_on_commit_callbacks
):
    ada = world.kelowna_record()
    PatientFactory(home_clinic=world.vernon, first_name="Bo", last_name="Vance")
    world.other_record()
    client = client_of(world.org_admin)

    manifest = exported(client, django_capture_on_commit_callbacks)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/api/v1/fhir/$export")
    files = lines_of(client, manifest)

    assert {"Organization", "Location", "Practitioner", "Patient", "Encounter", "Procedure"} <= set(
        files
    )
    ours = Patient.objects.filter(organization=world.organization, merged_into__isnull=True)
    assert sorted(ids(files["Patient"])) == sorted(
        str(pk) for pk in ours.values_list("pk", flat=True)
    )
    assert "Halvorsen" not in json.dumps(files)  # the other organisation's patient
    assert ids(files["Organization"]) == [str(world.organization.pk)]
    for kind in ("Practitioner", "Location", "Questionnaire"):
        assert len(ids(files[kind])) == len(set(ids(files[kind]))), kind
    # References stay relative in bulk files, and each one names a resource exported.
    assert f"Patient/{ada.patient.pk}" in json.dumps(files["Encounter"])

    # The export is in the access log, and each download: a read of the whole record of
    # each patient in it.
    reads = RecordRead.objects.filter(part="export", reader=world.org_admin)
    assert reads.count() == 1 + len(manifest["output"])
    for read in reads:
        assert sorted(read.patients) == sorted(ours.values_list("pk", flat=True))


def test_while_it_runs_the_status_says_how_far_and_a_second_kick_off_joins_it(
    world, client_of, django_capture_on_commit_callbacks
):
    world.kelowna_record()
    client = client_of(world.org_admin)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = kick_off(client)
        again = kick_off(client)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert len(queued) == 1  # one job for the two clicks
    assert FhirExport.objects.count() == 1

    status = client.get(first["Content-Location"])
    assert status.status_code == 202
    total = Patient.objects.filter(organization=world.organization).count()
    assert status["X-Progress"] == f"0 of {total} patients (queued)"
    assert status["Retry-After"] == "5"
    # Another type list is another export.
    with django_capture_on_commit_callbacks(execute=False):
        other = kick_off(client, "?_type=Patient")
    assert other.json()["id"] != first.json()["id"]


def test_only_the_types_asked_for(world, client_of, django_capture_on_commit_callbacks):
    world.kelowna_record()
    client = client_of(world.org_admin)
    manifest = exported(client, django_capture_on_commit_callbacks, "?_type=Patient,Observation")
    assert sorted(output["type"] for output in manifest["output"]) == ["Observation", "Patient"]


def test_an_unknown_type_is_refused_naming_the_parameter(world, client_of):
    response = kick_off(client_of(world.org_admin), "?_type=Patient,Banana")
    assert response.status_code == 400
    assert response.json()["fields"] == {"_type": [response.json()["detail"]]}
    assert "Banana" in response.json()["detail"]
    assert FhirExport.objects.count() == 0


@pytest.mark.parametrize("role", ["therapist", "manager", "front_desk"])
def test_only_organisation_admins_export(world, client_of, role):
    response = kick_off(client_of(getattr(world, role)))
    assert response.status_code == 403
    assert "organisation admin" in response.json()["detail"]
    assert FhirExport.objects.count() == 0


def test_another_organisations_export_is_not_found(
    world, client_of, django_capture_on_commit_callbacks
):
    world.other_record()
    theirs = exported(client_of(world.other_admin), django_capture_on_commit_callbacks)
    export = FhirExport.objects.get(organization=world.other_organization)
    client = client_of(world.org_admin)
    assert client.get(reverse("fhir-export-status", args=[export.pk])).status_code == 404
    assert client.get(theirs["output"][0]["url"]).status_code == 404
    assert client.delete(reverse("fhir-export-status", args=[export.pk])).status_code == 404
    assert FhirExportFile.objects.filter(export=export).exists()


def test_a_worker_killed_half_way_is_carried_on_without_writing_twice(world, monkeypatch):
    for number in range(5):
        PatientFactory(home_clinic=world.kelowna, first_name=f"Kim{number}")
    monkeypatch.setattr(fhir_export, "CHUNK_PATIENTS", 2)
    export = fhir_export.start_export(organization=world.organization, by=world.org_admin)

    chunks_seen = []
    real_chunk = fhir.chunk

    def dies_on_the_second_chunk(*args, **kwargs):
        chunks_seen.append(1)
        if len(chunks_seen) == 2:
            raise SystemExit("killed")  # not an Exception: nothing of the export catches it
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(fhir, "chunk", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        fhir_export.run_export(export_id=export.pk)
    export.refresh_from_db()
    assert (export.status, export.chunks, export.patients_done) == (ExportStatus.RUNNING, 1, 2)

    monkeypatch.setattr(fhir, "chunk", real_chunk)
    assert fhir_export.run_export(export_id=export.pk) == "completed"  # taken again
    export.refresh_from_db()
    assert export.patients_done == export.patients_total == 5
    patient_lines = "".join(fhir_export.file_lines(export, "Patient")).splitlines()
    patient_ids = [json.loads(line)["id"] for line in patient_lines]
    assert len(patient_ids) == len(set(patient_ids)) == 5
    organization_lines = "".join(fhir_export.file_lines(export, "Organization")).splitlines()
    assert len(organization_lines) == 1
    assert fhir_export.run_export(export_id=export.pk) == "already ended"


def test_the_database_going_away_keeps_nothing_of_the_chunk_and_fails_nothing(world, monkeypatch):
    PatientFactory(home_clinic=world.kelowna)
    export = fhir_export.start_export(organization=world.organization, by=world.org_admin)

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(fhir, "chunk", database_gone)
    with pytest.raises(OperationalError):
        fhir_export.run_export(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING  # the worker queues it again
    assert (export.chunks, export.files.count()) == (0, 0)


def test_a_failed_export_says_so_and_why(world, client_of, monkeypatch):
    PatientFactory(home_clinic=world.kelowna)
    export = fhir_export.start_export(organization=world.organization, by=world.org_admin)

    def broken(*args, **kwargs):
        raise ValueError("a mapping bug")

    monkeypatch.setattr(fhir, "chunk", broken)
    assert fhir_export.run_export(export_id=export.pk) == "failed"
    response = client_of(world.org_admin).get(reverse("fhir-export-status", args=[export.pk]))
    assert response.status_code == 500
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "ValueError" in outcome["issue"][0]["diagnostics"]
    get_fhir_model_class("OperationOutcome").model_validate(outcome)


def test_a_cancel_deletes_the_files_and_the_export_is_gone(
    world, client_of, django_capture_on_commit_callbacks
):
    world.kelowna_record()
    client = client_of(world.org_admin)
    manifest = exported(client, django_capture_on_commit_callbacks)
    export = FhirExport.objects.get()
    status_url = reverse("fhir-export-status", args=[export.pk])
    assert client.delete(status_url).status_code == 202
    assert not FhirExportFile.objects.filter(export=export).exists()
    assert client.get(status_url).status_code == 404
    assert client.get(manifest["output"][0]["url"]).status_code == 404


def test_files_are_kept_a_week_and_then_deleted(
    world, client_of, django_capture_on_commit_callbacks
):
    world.kelowna_record()
    client = client_of(world.org_admin)
    # A month back, held there: before the login, whose idle timeout then never runs out.
    start = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(days=30)
    with time_machine.travel(start, tick=False):
        manifest = exported(client, django_capture_on_commit_callbacks)
    with time_machine.travel(start + datetime.timedelta(days=6), tick=False):
        assert client.get(manifest["output"][0]["url"]).status_code == 200
    with time_machine.travel(start + datetime.timedelta(days=8), tick=False):
        assert client.get(manifest["output"][0]["url"]).status_code == 404
        with django_capture_on_commit_callbacks(execute=False):
            kick_off(client, "?_type=Patient")
    assert not FhirExportFile.objects.filter(export__requested_at=start).exists()


def test_an_export_whose_job_was_lost_ends_and_asking_again_starts_anew(
    world, client_of, django_capture_on_commit_callbacks
):
    world.kelowna_record()
    client = client_of(world.org_admin)
    # A month back, held there: before the login, whose idle timeout then never runs out.
    start = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(days=30)
    # The job never reaches a worker.
    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks():
        lost = kick_off(client).json()["id"]
    with time_machine.travel(start + datetime.timedelta(minutes=20), tick=False):
        status = client.get(reverse("fhir-export-status", args=[lost]))
        assert status.status_code == 500
        assert "nothing was written" in status.json()["issue"][0]["diagnostics"]
        with django_capture_on_commit_callbacks(execute=False):
            again = kick_off(client).json()["id"]
    assert again != lost


def test_each_download_is_written_to_the_access_log_as_the_downloader(
    world, client_of, django_capture_on_commit_callbacks
):
    world.kelowna_record()
    manifest = exported(client_of(world.org_admin), django_capture_on_commit_callbacks)
    other_admin = staff(Role.ORG_ADMIN, organization=world.organization)
    assert client_of(other_admin).get(manifest["output"][0]["url"]).status_code == 200
    [read] = RecordRead.objects.filter(reader=other_admin, part="export")
    ours = Patient.objects.filter(organization=world.organization)
    assert sorted(read.patients or [read.patient_id]) == sorted(ours.values_list("pk", flat=True))


def test_parameters_fascia_does_not_apply_are_refused(world, client_of):
    response = kick_off(client_of(world.org_admin), "?_since=2026-01-01T00:00:00Z")
    assert response.status_code == 400
    assert "_since" in response.json()["fields"]
    assert FhirExport.objects.count() == 0
