"""A patient's record as FHIR R4: from the staff API and from the portal, parsed by the R4B
classes of `fhir.resources`, holding what each reader may see and nothing else."""

import base64
import datetime
import hashlib
import json
import uuid

from django.urls import reverse
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import User
from clinics.models import Membership, Role
from patients import services
from patients.demo import PORTAL_EMAIL
from patients.fhir import resources as fhir_resources
from patients.models import Patient, ReadVia, RecordRead
from sessions import services as session_services
from tests.patients.factories import PatientFactory
from tests.patients.test_own_record import staff_only
from tests.sessions.factories import ready_to_needle, started_session

RECORD_TYPES = {
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "Questionnaire",
    "QuestionnaireResponse",
    "Consent",
    "Flag",
    "Encounter",
    "ClinicalImpression",
    "Procedure",
    "Observation",
    "AdverseEvent",
    "CarePlan",
}


def parsed(bundle: dict) -> dict:
    """The bundle after the R4B classes parsed it (which fails on any element out of place)."""
    get_fhir_model_class("Bundle").model_validate(bundle)
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))  # bdl-7, which the classes do not check
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return bundle


def fhir_of(client, patient) -> dict:
    response = client.get(reverse("patient-fhir", args=[patient.pk]))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return parsed(json.loads(response.content))


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    found = [entry["resource"] for entry in bundle["entry"]]
    return [resource for resource in found if kind is None or resource["resourceType"] == kind]


def references(value) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [ref for inner in value.values() for ref in references(inner)]
    if isinstance(value, list):
        return [ref for inner in value for ref in references(inner)]
    return []


def extension_value(resource: dict, name: str):
    for extension in resource.get("extension", []):
        if extension["url"].endswith(f"/{name}"):
            return next(value for key, value in extension.items() if key.startswith("value"))
    return None


def test_a_therapist_exports_the_whole_record_and_every_resource_parses(world, client_of):
    ada = world.kelowna_record()
    bundle = fhir_of(client_of(world.therapist), ada.patient)

    assert bundle["type"] == "collection"
    assert {resource["resourceType"] for resource in resources(bundle)} == RECORD_TYPES
    # Every reference points at an entry of the bundle: a hospital needs no server to ask.
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert set(references(bundle)) <= full_urls

    [patient] = resources(bundle, "Patient")
    assert patient["name"][0]["family"] == "Quinn"
    assert patient["birthDate"] == ada.patient.date_of_birth.isoformat()

    [procedure] = resources(bundle, "Procedure")
    needle_site = ada.charted.needle_site
    assert len(procedure["bodySite"]) == needle_site.session.needle_sites.count()
    [site] = [
        site for site in procedure["bodySite"] if site["text"].startswith(needle_site.muscle_name)
    ]
    assert site["text"] == f"{needle_site.muscle_name} ({needle_site.side})"
    details = {part["url"]: part for part in site["extension"][0]["extension"]}
    assert details["lot-number"]["valueString"] == needle_site.lot_number
    assert details["depth"]["valueQuantity"] == {
        "value": float(needle_site.depth_mm),
        "unit": "mm",
        "system": "http://unitsofmeasure.org",
        "code": "mm",
    }
    # Over the thorax, neck or shoulder girdle: the risk was acknowledged, and when.
    assert details["pneumothorax-risk-acknowledged"]["valueDateTime"]
    assert details["needles"]["valueInteger"] == needle_site.needles
    assert details["laterality"]["valueCodeableConcept"]["coding"][0]["system"] == (
        "http://snomed.info/sct"
    )

    [impression] = resources(bundle, "ClinicalImpression")
    assert impression["status"] == "completed"
    addendum = ada.charted.addendum
    [written] = [note for note in impression["note"] if note["text"].startswith("Addendum")]
    assert written["text"] == f"Addendum: {addendum.text}"
    assert written["authorReference"]["type"] == "Practitioner"

    pain = [
        observation
        for observation in resources(bundle, "Observation")
        if any(coding["code"] == "72514-3" for coding in observation["code"]["coding"])
    ]
    # Before and after needling, and at the one check-in answered.
    assert sorted(observation["valueInteger"] for observation in pain) == sorted(
        [ada.charted.chart.pain_before, ada.charted.chart.pain_after, ada.aftercare.answer.pain]
    )

    [consent] = resources(bundle, "Consent")
    text = ada.consent.text.encode()
    assert consent["status"] == "inactive"  # withdrawn
    assert consent["provision"]["period"]["end"]
    assert base64.b64decode(consent["sourceAttachment"]["data"]) == text
    assert (
        consent["sourceAttachment"]["hash"]
        == base64.b64encode(
            hashlib.sha1(text).digest()  # noqa: S324 (FHIR's attachment hash is SHA-1)
        ).decode()
    )
    assert extension_value(consent, "text-sha256") == ada.consent.text_sha256

    [event] = resources(bundle, "AdverseEvent")
    assert extension_value(event, "action-taken") == ada.charted.adverse_event.action_taken
    flags = [flag["code"]["text"] for flag in resources(bundle, "Flag")]
    assert any("Needle phobia" in flag for flag in flags)
    assert any(flag.startswith("Urgent") for flag in flags)

    [practitioner] = [
        resource
        for resource in resources(bundle, "Practitioner")
        if resource["id"] == str(world.therapist.pk)
    ]
    assert "telecom" not in practitioner  # a name and a credential, never the login


def test_the_export_is_written_to_the_access_log_part_by_part(world, client_of):
    ada = world.kelowna_record()
    before = set(RecordRead.objects.values_list("pk", flat=True))
    fhir_of(client_of(world.therapist), ada.patient)
    logged = RecordRead.objects.exclude(pk__in=before)
    assert {read.via for read in logged} == {ReadVia.API}
    assert {read.reader_id for read in logged} == {world.therapist.pk}
    assert {read.part for read in logged} == {
        "details",
        "intake",
        "screening",
        "consent",
        "chart",
        "aftercare",
        "check_in",
    }


def test_the_patient_downloads_their_own_record_without_the_clinics_notes(world, client_of):
    ada = world.kelowna_record()
    response = client_of(ada.patient.user).get(reverse("portal:record_fhir"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert "attachment" in response["Content-Disposition"]
    body = response.content.decode()
    bundle = parsed(json.loads(body))

    kinds = {resource["resourceType"] for resource in resources(bundle)}
    assert {"Patient", "QuestionnaireResponse", "Consent", "Encounter", "CarePlan"} <= kinds
    assert not kinds & {"ClinicalImpression", "Procedure", "AdverseEvent", "PractitionerRole"}
    assert [note for note in staff_only(ada) if note in body] == []
    assert ada.aftercare.answer.comments in body  # the patient's own words are theirs


def test_the_front_desk_exports_no_clinical_answers(world, client_of):
    ada = world.kelowna_record()
    before = set(RecordRead.objects.values_list("pk", flat=True))
    bundle = fhir_of(client_of(world.front_desk), ada.patient)
    kinds = {resource["resourceType"] for resource in resources(bundle)}
    assert {"Patient", "Consent", "Encounter"} <= kinds
    body = json.dumps(bundle)
    assert [answer for answer in ada.clinical_answers() if answer in body] == []
    # The alert the chest pain raised is there, but not why: that is the patient's answer.
    [alert] = [
        flag for flag in resources(bundle, "Flag") if flag["code"]["text"].startswith("Urgent")
    ]
    assert alert["code"]["text"] == "Urgent from the check-in 24 h after the session"
    logged = RecordRead.objects.exclude(pk__in=before).values_list("part", flat=True)
    assert set(logged) == {"details", "consent"}
    # Staff are named, never by their login.
    assert world.therapist.email not in body


def test_another_organisations_patient_is_not_found(world, client_of):
    maren = world.other_record()
    response = client_of(world.therapist).get(reverse("patient-fhir", args=[maren.patient.pk]))
    assert response.status_code == 404


def test_a_child_signed_for_by_a_guardian_and_too_young_to_needle(world, client_of):
    today = datetime.date.today()
    child = PatientFactory(
        home_clinic=world.kelowna, date_of_birth=today.replace(year=today.year - 10, day=1)
    )
    services.sign_consent(
        patient=child,
        by=world.front_desk,
        template=services.current_consent_template(world.organization),
        signer_name="Jo Parent",
        guardian_relationship="Mother",
    )
    bundle = fhir_of(client_of(world.therapist), child)

    [guardian] = resources(bundle, "RelatedPerson")
    assert guardian["name"] == [{"text": "Jo Parent"}]
    assert guardian["patient"]["reference"] == f"urn:uuid:{child.pk}"
    assert guardian["relationship"][0]["coding"][0]["code"] == "GUARD"
    assert guardian["relationship"][0]["text"] == "Mother"
    [consent] = resources(bundle, "Consent")
    assert consent["status"] == "active"
    assert consent["performer"][0]["reference"] == f"urn:uuid:{guardian['id']}"
    assert consent["provision"]["actor"][0]["role"]["coding"][0]["code"] == "GUARD"
    [flag] = resources(bundle, "Flag")
    assert flag["status"] == "active"
    assert flag["code"]["coding"][0]["code"] == "under_12"
    assert flag["code"]["text"].startswith("Absolute contraindication")


def test_a_suspected_pneumothorax_is_an_adverse_event_that_parses(world, client_of, patient):
    ready_to_needle(patient, by=world.therapist)
    session = started_session(patient=patient, therapist=world.therapist)
    session_services.add_adverse_event(
        session=session,
        by=world.therapist,
        kind="pneumothorax",
        severity="severe",
        action_taken="Called an ambulance; oxygen until it came",
    )
    bundle = fhir_of(client_of(world.therapist), patient)

    [event] = resources(bundle, "AdverseEvent")
    assert event["actuality"] == "actual"
    assert event["event"]["text"] == "Suspected pneumothorax"
    assert event["severity"]["coding"][0]["code"] == "severe"
    assert extension_value(event, "needs-review") is True
    [encounter] = resources(bundle, "Encounter")
    assert encounter["status"] == "in-progress"
    assert event["encounter"]["reference"] == f"urn:uuid:{encounter['id']}"
    [impression] = resources(bundle, "ClinicalImpression")
    assert impression["status"] == "in-progress"  # not signed yet


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    first_name=names,
    last_name=names,
    phone=names,
    email=names,
    address=names,
    contact=names,
    language=st.sampled_from(["", "en", "fr", "zh-hans", "pt-br"]),
)
def test_any_patient_details_make_a_patient_resource_that_parses(
    first_name, last_name, phone, email, address, contact, language
):
    patient = Patient(
        organization_id=uuid.uuid4(),
        first_name=first_name,
        last_name=last_name,
        date_of_birth=datetime.date(1990, 2, 28),
        phone=phone,
        email=email,
        address=address,
        emergency_contact_name=contact,
        emergency_contact_phone=phone,
        preferred_language=language,
    )
    resource = fhir_resources.patient_resource(patient)
    get_fhir_model_class("Patient").model_validate(resource)
    assert resource["birthDate"] == "1990-02-28"


def test_every_demo_patient_exports_as_fhir_that_parses(demo, client_of):
    exported = 0
    for patient in Patient.objects.select_related("organization"):
        admin = Membership.objects.filter(
            organization=patient.organization, role=Role.ORG_ADMIN
        ).first()
        bundle = fhir_of(client_of(admin.user), patient)
        [exported_patient] = resources(bundle, "Patient")
        assert exported_patient["id"] == str(patient.pk)
        exported += 1
    assert exported == 8
    login = User.objects.get(email=PORTAL_EMAIL)
    response = client_of(login).get(reverse("portal:record_fhir"))
    assert response.status_code == 200
    parsed(json.loads(response.content))


def test_the_desks_note_on_a_cancellation_stays_with_the_clinic(world, client_of):
    ada = world.kelowna_record()
    booked = session_services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ada.patient,
        starts_at=ada.session.starts_at + datetime.timedelta(days=7),
        by=world.front_desk,
    )
    note = "Third late cancellation; seemed upset on the phone"
    session_services.cancel_session(session=booked, by=world.front_desk, reason=note)
    own = client_of(ada.patient.user).get(reverse("portal:record_fhir")).content.decode()
    assert note not in own
    assert '"status": "cancelled"' in own  # that it was cancelled is theirs
    assert note in json.dumps(fhir_of(client_of(world.therapist), ada.patient))
