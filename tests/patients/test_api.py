"""The patients API, through real HTTP requests: patients, intake, screening and consent."""

import datetime
import re
import uuid
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients import services
from patients.models import (
    ConsentSignature,
    Intake,
    Patient,
    PatientInvitation,
    RecordRead,
    ScreeningResponse,
)
from tests.patients.factories import PatientFactory, answers_for, born_years_ago

JANE = {
    "first_name": "Jane",
    "last_name": "Doe",
    "date_of_birth": "1990-01-02",
    "email": "jane.doe@example.test",
    "phone": "+1 250 555 0101",
}

NECK_INTAKE = {
    "presenting_complaint": "Stiff neck after long days at the desk",
    "pain_areas": ["neck", "upper_back"],
    "conditions": ["Migraine"],
    "activity_level": "light",
    "goals": "Turn my head when driving",
    "surgeries": [{"description": "Appendectomy", "performed_on": "2015-03-01"}],
}


def send(client, method, url, body=None, **headers):
    return getattr(client, method)(url, body, content_type="application/json", headers=headers)


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


def patient_url(patient, action="detail") -> str:
    return reverse(f"patient-{action}", args=[patient.pk])


def register(client, world, **fields):
    return send(
        client,
        "post",
        reverse("patient-list"),
        {"home_clinic": str(world.kelowna.pk), **JANE, **fields},
    )


def screened(patient, by, *yes):
    questionnaire = services.current_questionnaire(patient.organization)
    return services.submit_screening(
        patient=patient, by=by, answers=answers_for(questionnaire, *yes)
    )


def answers_body(questionnaire: dict, *yes) -> list[dict]:
    return [
        {"question": question["id"], "answer": question["key"] in yes}
        for question in questionnaire["questions"]
    ]


# --- Patients ---------------------------------------------------------------


def test_front_desk_registers_a_patient_who_has_nothing_on_file_yet(world, client_of):
    response = register(client_of(world.front_desk), world)
    assert response.status_code == 201
    body = response.json()
    patient = Patient.objects.get()
    assert body["id"] == str(patient.pk)
    assert body["home_clinic"] == str(world.kelowna.pk)
    assert body["first_name"] == "Jane"
    assert body["version"] == 1
    assert body["has_portal_login"] is False
    status = body["status"]
    assert status["flags"] is None  # the front desk reads readiness, not contraindications
    assert status["screening_state"] == "missing"
    assert status["screening_valid_until"] is None
    assert status["consent_state"] == "missing"
    assert [(line["mark"], line["link_text"]) for line in body["before_the_needle"]] == [
        ("Screening needed", "Send or open the forms"),
        ("Consent needed", "Take consent"),
    ]


def test_a_likely_duplicate_is_named_and_registered_only_when_confirmed(world, client_of):
    existing = PatientFactory(
        home_clinic=world.vernon,
        first_name="Jane",
        last_name="Doe",
        date_of_birth=datetime.date(1990, 1, 2),
    )
    client = client_of(world.front_desk)
    response = register(client, world, first_name=" jane ", last_name="DOE")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "likely_duplicate"
    # Kelowna's desk cannot open a Vernon record: it learns that there is one, not whose.
    assert body["detail"].startswith("A record at another clinic may be the same person")
    assert "Jane" not in body["detail"]
    assert (body["matches"], body["elsewhere"]) == ([], 1)
    assert Patient.objects.count() == 1
    seen_by_admin = register(client_of(world.org_admin), world, first_name="Jane", last_name="Doe")
    assert seen_by_admin.json()["matches"][0]["id"] == str(existing.pk)
    response = register(client, world, allow_duplicate=True)
    assert response.status_code == 201
    assert Patient.objects.count() == 2


def test_a_repeated_idempotency_key_answers_with_the_first_patient_and_registers_one(
    world, client_of
):
    client = client_of(world.front_desk)
    key = str(uuid.uuid4())
    first = send(
        client,
        "post",
        reverse("patient-list"),
        {"home_clinic": str(world.kelowna.pk), **JANE},
        **{"Idempotency-Key": key},
    )
    again = send(
        client,
        "post",
        reverse("patient-list"),
        {"home_clinic": str(world.kelowna.pk), **JANE},
        **{"Idempotency-Key": key},
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Patient.objects.count() == 1


@pytest.mark.parametrize("key", ["42", "not-a-uuid", ""])
def test_an_idempotency_key_that_is_not_a_uuid_is_refused_naming_the_header(world, client_of, key):
    response = send(
        client_of(world.front_desk),
        "post",
        reverse("patient-list"),
        {"home_clinic": str(world.kelowna.pk), **JANE},
        **{"Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key"]
    assert not Patient.objects.exists()


def test_an_idempotency_key_of_a_registration_one_cannot_see_reveals_nothing(world, client_of):
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"home_clinic": str(world.vernon.pk), **JANE}
    send(client_of(world.org_admin), "post", reverse("patient-list"), body, **headers)
    response = send(
        client_of(world.therapist),
        "post",
        reverse("patient-list"),
        {"home_clinic": str(world.kelowna.pk), **JANE, "first_name": "Joan"},
        **headers,
    )
    assert response.status_code == 409
    assert list(response.json()["fields"]) == ["Idempotency-Key"]
    assert "Jane" not in response.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", "2999-01-01", "A date of birth cannot be in the future."),
        ("phone", "555-12", "Enter a phone number"),
        ("email", "jane.doe@", "Enter a valid email address."),
    ],
)
def test_invalid_details_are_refused_naming_the_field(world, client_of, field, value, message):
    response = register(client_of(world.front_desk), world, **{field: value})
    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field]
    assert body["fields"][field][0].startswith(message)
    assert not Patient.objects.exists()


def test_registering_at_another_organisations_clinic_is_refused_like_an_unknown_clinic(
    world, client_of
):
    response = register(client_of(world.org_admin), world, home_clinic=str(world.halifax.pk))
    assert response.status_code == 400
    assert response.json()["fields"]["home_clinic"] == [
        f"No clinic with id {world.halifax.pk} that you can see."
    ]
    assert not Patient.objects.exists()


def test_an_edit_over_a_newer_save_is_a_conflict_and_changes_nothing(world, client_of, patient):
    url = patient_url(patient)
    response = send(
        client_of(world.front_desk), "patch", url, {"phone": "+1 250 555 0111", "version": 1}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["phone"] == "+1 250 555 0111"
    stale = send(
        client_of(world.therapist), "patch", url, {"phone": "+1 250 555 0999", "version": 1}
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "edit_conflict"
    assert list(stale.json()["fields"]) == ["version"]
    patient.refresh_from_db()
    assert (patient.phone, patient.version) == ("+1 250 555 0111", 2)


def test_a_full_update_replaces_the_details(world, client_of, patient):
    response = send(
        client_of(world.therapist),
        "put",
        patient_url(patient),
        {"home_clinic": str(world.kelowna.pk), **JANE, "address": "1 Lake Road"},
    )
    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.full_name, patient.address, patient.email) == (
        "Jane Doe",
        "1 Lake Road",
        "jane.doe@example.test",
    )


def test_each_person_lists_the_patients_of_the_clinics_they_work_at(world, client_of, patient):
    at_vernon = PatientFactory(home_clinic=world.vernon)
    PatientFactory(home_clinic=world.halifax)
    kelowna_only = {str(patient.pk)}
    assert set(ids(client_of(world.therapist).get(reverse("patient-list")))) == kelowna_only
    assert set(ids(client_of(world.front_desk).get(reverse("patient-list")))) == kelowna_only
    assert set(ids(client_of(world.vernon_therapist).get(reverse("patient-list")))) == {
        str(at_vernon.pk)
    }
    admin = client_of(world.org_admin)
    assert set(ids(admin.get(reverse("patient-list")))) == {str(patient.pk), str(at_vernon.pk)}
    filtered = admin.get(reverse("patient-list"), {"home_clinic": str(world.vernon.pk)})
    assert ids(filtered) == [str(at_vernon.pk)]
    other = admin.get(reverse("patient-list"), {"home_clinic": str(world.halifax.pk)})
    assert other.status_code == 400
    assert "home_clinic" in other.json()["fields"]


def test_searching_finds_a_misspelt_name_among_the_patients_one_may_see(world, client_of):
    john = PatientFactory(home_clinic=world.kelowna, first_name="John", last_name="Smith")
    PatientFactory(home_clinic=world.kelowna, first_name="Mary", last_name="Lee")
    at_vernon = PatientFactory(home_clinic=world.vernon, first_name="John", last_name="Smyth")
    PatientFactory(home_clinic=world.halifax, first_name="John", last_name="Smith")
    response = client_of(world.therapist).get(reverse("patient-list"), {"q": "Jonh Smiht"})
    assert response.status_code == 200
    assert ids(response) == [str(john.pk)]
    admin = client_of(world.org_admin)
    both = admin.get(reverse("patient-list"), {"q": "john"})
    assert set(ids(both)) == {str(john.pk), str(at_vernon.pk)}
    at_one_clinic = admin.get(
        reverse("patient-list"), {"q": "john", "home_clinic": world.vernon.pk}
    )
    assert ids(at_one_clinic) == [str(at_vernon.pk)]


def test_a_patient_sees_only_themself(world, client_of, patient):
    neighbour = PatientFactory(home_clinic=world.kelowna)
    client = client_of(patient.user)
    assert ids(client.get(reverse("patient-list"))) == [str(patient.pk)]
    own = client.get(patient_url(patient))
    assert own.status_code == 200
    assert own.json()["has_portal_login"] is True
    for action in ("detail", "intake", "screening-questionnaire", "consent-template"):
        assert client.get(patient_url(neighbour, action)).status_code == 404, action
    assert send(client, "post", patient_url(neighbour, "report-change")).status_code == 404


def test_a_patient_cannot_change_their_registered_details(world, client_of, patient):
    response = send(client_of(patient.user), "patch", patient_url(patient), {"last_name": "X"})
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.last_name == "Morgan"


def test_another_organisations_patient_answers_404(world, client_of):
    other = world.other_record().patient
    client = client_of(world.org_admin)
    assert client.get(patient_url(other)).json()["code"] == "not_found"
    assert client.get(patient_url(other, "intake")).status_code == 404


# --- Intake -----------------------------------------------------------------


def test_a_therapist_records_the_intake_and_reads_it_back(world, client_of, patient):
    client = client_of(world.therapist)
    assert client.get(patient_url(patient, "intake")).status_code == 404
    response = send(client, "put", patient_url(patient, "intake"), NECK_INTAKE)
    assert response.status_code == 200
    body = client.get(patient_url(patient, "intake")).json()
    assert body["presenting_complaint"] == "Stiff neck after long days at the desk"
    assert body["pain_areas"] == ["neck", "upper_back"]
    assert body["conditions"] == ["Migraine"]
    assert body["medications"] == []
    assert body["surgeries"] == [{"description": "Appendectomy", "performed_on": "2015-03-01"}]
    assert body["channel"] == "clinic"
    assert body["version"] == 1


def test_an_intake_saved_over_a_newer_one_is_a_conflict(world, client_of, patient):
    url = patient_url(patient, "intake")
    assert send(client_of(world.therapist), "put", url, NECK_INTAKE).status_code == 200
    changed = {**NECK_INTAKE, "goals": "Sleep through the night", "version": 1}
    assert send(client_of(world.manager), "put", url, changed).json()["version"] == 2
    stale = send(
        client_of(world.therapist), "put", url, {**NECK_INTAKE, "goals": "Run", "version": 1}
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "edit_conflict"
    assert Intake.objects.get().goals == "Sleep through the night"


def test_a_patient_fills_in_their_own_intake(world, client_of, patient):
    response = send(client_of(patient.user), "put", patient_url(patient, "intake"), NECK_INTAKE)
    assert response.status_code == 200
    assert response.json()["channel"] == "portal"


def test_bad_intake_answers_are_refused_naming_the_field(world, client_of, patient):
    url = patient_url(patient, "intake")
    client = client_of(world.therapist)
    response = send(client, "put", url, {**NECK_INTAKE, "pain_areas": ["elbowish"]})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["pain_areas"]
    future = [{"description": "Knee", "performed_on": "2999-01-01"}]
    response = send(client, "put", url, {**NECK_INTAKE, "surgeries": future})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["surgeries"]
    assert not Intake.objects.exists()


def test_front_desk_reads_no_clinical_answers_and_sees_readiness_only(world, client_of, patient):
    services.save_intake(
        patient=patient, by=world.therapist, presenting_complaint="Neck", activity_level="light"
    )
    screening = screened(patient, world.therapist, "needle_phobia")
    client = client_of(world.front_desk)
    intake = client.get(patient_url(patient, "intake"))
    assert intake.status_code == 403
    assert intake.json()["detail"].startswith("Your role does not read clinical answers")
    assert send(client, "put", patient_url(patient, "intake"), NECK_INTAKE).status_code == 403
    assert Intake.objects.get().presenting_complaint == "Neck"
    assert ids(client.get(reverse("screening-response-list"))) == []
    detail = client.get(reverse("screening-response-detail", args=[screening.pk]))
    assert detail.status_code == 404
    body = client.get(patient_url(patient)).json()
    assert body["status"]["flags"] is None
    assert body["status"]["screening_state"] == "valid"
    assert "Needle phobia" not in str(body)
    therapist = client_of(world.therapist).get(patient_url(patient)).json()
    assert therapist["status"]["flags"] == [
        {"contraindication": "needle_phobia", "label": "Needle phobia", "severity": "relative"}
    ]
    assert "Relative contraindication: Needle phobia. Record a reason to proceed." in {
        line["text"] for line in therapist["before_the_needle"]
    }


# --- Invitations and changes in health -----------------------------------


def test_an_invitation_is_answered_without_its_link(
    world, client_of, django_capture_on_commit_callbacks
):
    patient = PatientFactory(home_clinic=world.kelowna, email="kim@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client_of(world.front_desk), "post", patient_url(patient, "invite"))
    assert response.status_code == 201
    invitation = PatientInvitation.objects.get()
    assert response.json() == {
        "id": str(invitation.pk),
        "email": "kim@example.test",
        "expires_at": response.json()["expires_at"],
        "sent_at": None,  # in a test the e-mail goes when the test transaction ends
        "send_failed_at": None,
    }
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    token = re.search(r"/invitation/([^/\s]+)", mail.outbox[0].body).group(1)
    assert token not in response.content.decode()


def test_inviting_a_patient_who_has_a_login_is_a_conflict(world, client_of, patient):
    response = send(client_of(world.front_desk), "post", patient_url(patient, "invite"))
    assert response.status_code == 409
    assert not PatientInvitation.objects.exists()


def test_a_reported_change_in_health_asks_for_a_new_screening(world, client_of, patient):
    screened(patient, world.therapist)
    response = send(
        client_of(patient.user),
        "post",
        patient_url(patient, "report-change"),
        {"note": "I had knee surgery last week"},
    )
    assert response.status_code == 200
    assert response.json()["status"]["screening_state"] == "changed"
    assert ScreeningResponse.objects.get().change_note == "I had knee surgery last week"


# --- Screening --------------------------------------------------------------


def test_a_patient_reads_the_current_questions_and_answers_them(world, client_of, patient):
    client = client_of(patient.user)
    assert ids(client.get(reverse("screening-questionnaire-list"))) == []
    questionnaire = client.get(patient_url(patient, "screening-questionnaire")).json()
    assert questionnaire["version"] == 1
    assert questionnaire["questions"][0]["text"]
    response = send(
        client,
        "post",
        reverse("screening-response-list"),
        {
            "patient": str(patient.pk),
            "questionnaire": questionnaire["id"],
            "answers": answers_body(questionnaire, "blood_thinners"),
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["channel"] == "portal"
    assert body["questionnaire_version"] == 1
    assert body["flags"] == [
        {
            "contraindication": "blood_thinners",
            "label": "Takes blood thinners",
            "severity": "relative",
        }
    ]
    thinners = next(answer for answer in body["answers"] if answer["key"] == "blood_thinners")
    assert thinners["answer"] is True
    assert thinners["text"] == "Do you take blood thinners?"
    own = client.get(reverse("screening-response-list"), {"patient": str(patient.pk)})
    assert ids(own) == [body["id"]]


def test_a_repeated_screening_submission_records_one_response(world, client_of, patient):
    client = client_of(world.therapist)
    questionnaire = client.get(patient_url(patient, "screening-questionnaire")).json()
    body = {
        "patient": str(patient.pk),
        "questionnaire": questionnaire["id"],
        "answers": answers_body(questionnaire),
    }
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = send(client, "post", reverse("screening-response-list"), body, **headers)
    again = send(client, "post", reverse("screening-response-list"), body, **headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert ScreeningResponse.objects.count() == 1


def test_a_question_of_another_version_is_refused_naming_the_answers(world, client_of, patient):
    client = client_of(world.therapist)
    old = client.get(patient_url(patient, "screening-questionnaire")).json()
    services.publish_questionnaire(
        organization=world.organization,
        by=world.org_admin,
        title="Screening",
        questions=[{"key": "pregnancy", "text": "Pregnant?", "contraindication": "pregnancy"}],
    )
    new = client.get(patient_url(patient, "screening-questionnaire")).json()
    assert new["version"] == 2
    response = send(
        client,
        "post",
        reverse("screening-response-list"),
        {"patient": str(patient.pk), "questionnaire": new["id"], "answers": answers_body(old)},
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["answers"]
    stale = send(
        client,
        "post",
        reverse("screening-response-list"),
        {"patient": str(patient.pk), "questionnaire": old["id"], "answers": answers_body(old)},
    )
    assert stale.status_code == 400
    assert list(stale.json()["fields"]) == ["questionnaire"]
    assert not ScreeningResponse.objects.exists()


def test_a_patient_cannot_answer_for_another_patient(world, client_of, patient):
    neighbour = PatientFactory(home_clinic=world.kelowna)
    client = client_of(patient.user)
    questionnaire = client.get(patient_url(patient, "screening-questionnaire")).json()
    response = send(
        client,
        "post",
        reverse("screening-response-list"),
        {
            "patient": str(neighbour.pk),
            "questionnaire": questionnaire["id"],
            "answers": answers_body(questionnaire),
        },
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["patient"]
    assert not ScreeningResponse.objects.exists()


def test_front_desk_cannot_record_screening_answers(world, client_of, patient):
    client = client_of(world.front_desk)
    questionnaire = client.get(patient_url(patient, "screening-questionnaire")).json()
    response = send(
        client,
        "post",
        reverse("screening-response-list"),
        {
            "patient": str(patient.pk),
            "questionnaire": questionnaire["id"],
            "answers": answers_body(questionnaire),
        },
    )
    assert response.status_code == 403
    assert not ScreeningResponse.objects.exists()


def test_an_org_admin_publishes_a_questionnaire_and_a_therapist_cannot(world, client_of):
    body = {
        "organization": str(world.organization.pk),
        "title": "Short screening",
        "questions": [
            {"key": "pregnancy", "text": "Are you pregnant?", "contraindication": "pregnancy"},
            {"key": "sport", "text": "Do you play a sport?"},
        ],
    }
    refused = send(
        client_of(world.therapist), "post", reverse("screening-questionnaire-list"), body
    )
    assert refused.status_code == 400
    assert "organization" in refused.json()["fields"]
    response = send(
        client_of(world.org_admin), "post", reverse("screening-questionnaire-list"), body
    )
    assert response.status_code == 201
    published = response.json()
    assert published["title"] == "Short screening"
    assert [question["key"] for question in published["questions"]] == ["pregnancy", "sport"]
    assert published["questions"][1]["contraindication"] == ""
    listed = client_of(world.front_desk).get(reverse("screening-questionnaire-list"))
    assert published["id"] in ids(listed)


# --- Consent ----------------------------------------------------------------


def test_a_patient_signs_their_consent_and_every_fact_is_kept(world, client_of, patient):
    client = client_of(patient.user)
    template = client.get(patient_url(patient, "consent-template")).json()
    response = send(
        client,
        "post",
        reverse("consent-signature-list"),
        {"patient": str(patient.pk), "template": template["id"], "signer_name": "Pat Morgan"},
        **{"User-Agent": "Mozilla/5.0 (iPhone)"},
    )
    assert response.status_code == 201
    body = response.json()
    signature = ConsentSignature.objects.get()
    assert body["id"] == str(signature.pk)
    assert body["text"] == template["body"]
    assert body["text_sha256"] == signature.text_sha256
    assert body["template_version"] == 1
    assert body["signer_name"] == "Pat Morgan"
    assert body["guardian_relationship"] == ""
    assert body["channel"] == "portal"
    assert body["ip_address"] == "127.0.0.1"
    assert body["user_agent"] == "Mozilla/5.0 (iPhone)"
    assert body["withdrawn_at"] is None
    assert client.get(patient_url(patient)).json()["status"]["consent_state"] == "valid"


def test_signing_a_version_that_is_no_longer_current_is_refused_naming_the_template(
    world, client_of, patient
):
    client = client_of(world.front_desk)
    old = client.get(patient_url(patient, "consent-template")).json()
    services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="Version two."
    )
    response = send(
        client,
        "post",
        reverse("consent-signature-list"),
        {"patient": str(patient.pk), "template": old["id"], "signer_name": "Pat Morgan"},
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["template"]
    assert not ConsentSignature.objects.exists()


def test_a_minor_is_signed_for_by_a_guardian(world, client_of):
    minor = PatientFactory(home_clinic=world.kelowna, date_of_birth=born_years_ago(15))
    client = client_of(world.front_desk)
    template = client.get(patient_url(minor, "consent-template")).json()
    body = {"patient": str(minor.pk), "template": template["id"], "signer_name": "Alex Parent"}
    response = send(client, "post", reverse("consent-signature-list"), body)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["guardian_relationship"]
    response = send(
        client,
        "post",
        reverse("consent-signature-list"),
        {**body, "guardian_relationship": "Mother"},
    )
    assert response.status_code == 201
    assert response.json()["guardian_relationship"] == "Mother"


def test_a_repeated_signature_submission_records_one_signature(world, client_of, patient):
    client = client_of(world.front_desk)
    template = client.get(patient_url(patient, "consent-template")).json()
    body = {"patient": str(patient.pk), "template": template["id"], "signer_name": "Pat Morgan"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = send(client, "post", reverse("consent-signature-list"), body, **headers)
    again = send(client, "post", reverse("consent-signature-list"), body, **headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert ConsentSignature.objects.count() == 1


def test_an_idempotency_key_used_for_another_patients_consent_is_a_conflict(
    world, client_of, patient
):
    neighbour = PatientFactory(home_clinic=world.kelowna)
    client = client_of(world.front_desk)
    template = client.get(patient_url(patient, "consent-template")).json()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    for who in (patient, neighbour):
        response = send(
            client,
            "post",
            reverse("consent-signature-list"),
            {"patient": str(who.pk), "template": template["id"], "signer_name": who.full_name},
            **headers,
        )
    assert response.status_code == 409
    assert list(response.json()["fields"]) == ["Idempotency-Key"]
    assert not ConsentSignature.objects.filter(patient=neighbour).exists()


def test_a_patient_withdraws_their_consent(world, client_of, patient):
    signature = services.sign_consent(
        patient=patient,
        by=world.front_desk,
        template=services.current_consent_template(world.organization),
        signer_name="Pat Morgan",
    )
    url = reverse("consent-signature-withdraw", args=[signature.pk])
    # The front desk takes consent but does not record a withdrawal: the patient does.
    desk = send(client_of(world.front_desk), "post", url, {"reason": "Heard at the desk"})
    assert desk.status_code == 403
    assert "does not allow you to record a withdrawal" in desk.json()["detail"]
    client = client_of(patient.user)
    response = send(client, "post", url, {"reason": "I changed my mind"})
    assert response.status_code == 200
    assert response.json()["withdrawn_at"] is not None
    assert response.json()["withdrawal_reason"] == "I changed my mind"
    status = client.get(patient_url(patient)).json()["status"]
    assert status["consent_state"] == "withdrawn"


def test_a_signature_is_never_edited_or_deleted(world, client_of, patient):
    signature = services.sign_consent(
        patient=patient,
        by=world.front_desk,
        template=services.current_consent_template(world.organization),
        signer_name="Pat Morgan",
    )
    url = reverse("consent-signature-detail", args=[signature.pk])
    client = client_of(world.org_admin)
    for method in ("put", "patch", "delete"):
        assert send(client, method, url, {"signer_name": "X"}).status_code == 405, method
    assert ConsentSignature.objects.get().signer_name == "Pat Morgan"


def test_an_org_admin_publishes_a_consent_text(world, client_of):
    body = {"organization": str(world.organization.pk), "title": "Consent", "body": "New text."}
    refused = send(client_of(world.manager), "post", reverse("consent-template-list"), body)
    assert refused.status_code == 400
    response = send(client_of(world.org_admin), "post", reverse("consent-template-list"), body)
    assert response.status_code == 201
    assert response.json()["body"] == "New text."
    assert response.json()["version"] == 1


# --- Costs and the schema ---------------------------------------------------


def patients_with_records(world, count):
    for _ in range(count):
        patient = PatientFactory(home_clinic=world.kelowna, last_name="Morgan")
        screened(patient, world.therapist, "pregnancy")
        services.sign_consent(
            patient=patient,
            by=world.therapist,
            template=services.current_consent_template(world.organization),
            signer_name=patient.full_name,
        )


@pytest.mark.parametrize(
    ("list_name", "params"),
    [
        ("patient-list", {}),
        ("patient-list", {"q": "morgan"}),
        ("screening-response-list", {}),
        ("consent-signature-list", {}),
        ("screening-questionnaire-list", {}),
        ("consent-template-list", {}),
    ],
)
def test_a_list_costs_the_same_queries_for_one_row_or_many(world, client_of, list_name, params):
    client = client_of(world.therapist)
    patients_with_records(world, 1)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse(list_name), params).json()["count"] >= 1
    patients_with_records(world, 6)
    services.publish_questionnaire(
        organization=world.organization,
        by=world.org_admin,
        title="Screening",
        questions=[{"key": "pregnancy", "text": "Pregnant?"}],
    )
    services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="Version two."
    )
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse(list_name), {**params, "page_size": 5})
    assert len(response.json()["results"]) >= 2
    assert len(many) == len(one), [query["sql"] for query in many.captured_queries]


def test_the_api_schema_is_valid_and_generates_without_warnings():
    errors = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=errors)
    assert errors.getvalue() == ""


def test_reading_a_record_is_written_to_the_access_log(world, client_of, patient):
    services.save_intake(
        patient=patient, by=world.therapist, presenting_complaint="Neck", activity_level="light"
    )
    screening = screened(patient, world.therapist)
    signature = services.sign_consent(
        patient=patient,
        by=world.therapist,
        template=services.current_consent_template(world.organization),
        signer_name="Pat Morgan",
    )
    client = client_of(world.therapist)
    for url in (
        patient_url(patient),
        patient_url(patient, "intake"),
        reverse("screening-response-detail", args=[screening.pk]),
        reverse("consent-signature-detail", args=[signature.pk]),
    ):
        assert client.get(url).status_code == 200, url
    reads = RecordRead.objects.order_by("read_at")
    assert [(read.reader, read.patient, read.part, read.via) for read in reads] == [
        (world.therapist, patient, part, "api")
        for part in ("details", "intake", "screening", "consent")
    ]


def test_a_refused_read_is_not_logged(world, client_of, patient):
    services.save_intake(
        patient=patient, by=world.therapist, presenting_complaint="Neck", activity_level="light"
    )
    assert client_of(world.front_desk).get(patient_url(patient, "intake")).status_code == 403
    assert client_of(world.other_admin).get(patient_url(patient)).status_code == 404
    assert not RecordRead.objects.exists()


def test_a_page_of_answers_or_signatures_is_logged_as_a_read_of_each_patient(world, client_of):
    patients_with_records(world, 3)
    client = client_of(world.therapist)
    assert client.get(reverse("screening-response-list")).json()["count"] == 3
    assert client.get(reverse("consent-signature-list"), {"page_size": 2}).status_code == 200
    parts = [(read.part, len(read.patient_ids)) for read in RecordRead.objects.all()]
    assert sorted(parts) == [("consent", 2), ("screening", 3)]


def test_each_signature_says_whether_consent_rests_on_it(world, client_of, patient):
    template = services.current_consent_template(world.organization)
    first = services.sign_consent(
        patient=patient, by=patient.user, template=template, signer_name="Pat Morgan"
    )
    newer = services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body="Version two."
    )
    second = services.sign_consent(
        patient=patient, by=patient.user, template=newer, signer_name="Pat Morgan"
    )
    client = client_of(world.therapist)
    listed = client.get(reverse("consent-signature-list"), {"patient": str(patient.pk)}).json()
    assert {row["id"]: row["state"] for row in listed["results"]} == {
        str(first.pk): "replaced",
        str(second.pk): "standing",
    }
    services.withdraw_consent(signature=second, by=patient.user)
    one = client.get(reverse("consent-signature-detail", args=[second.pk])).json()
    assert one["state"] == "withdrawn"


@pytest.mark.parametrize(
    "address", ["/api/v1/patients/not-a-uuid/", "/api/v1/no-such-resource/", "/api/v2/"]
)
def test_an_address_that_is_no_api_route_answers_json(world, client_of, settings, address):
    settings.DEBUG = False  # with DEBUG on, Django shows its own page for developers
    response = client_of(world.therapist).get(address)
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No such address in the API: {address}. Ids are UUIDs; see /api/docs/.",
        "code": "not_found",
        "fields": {},
    }
    assert response["Cache-Control"] == "no-store"


def test_a_page_address_that_does_not_exist_still_gets_the_page(world, client_of, settings):
    settings.DEBUG = False
    response = client_of(world.therapist).get("/patients/not-a-uuid/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
