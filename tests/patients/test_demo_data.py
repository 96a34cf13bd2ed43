"""The demo patients: one for each case, loaded twice they add nothing, the portal login works."""

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from clinics.demo import DEMO_PASSWORD
from patients import selectors
from patients.demo import PORTAL_EMAIL
from patients.models import (
    ConsentSignature,
    ConsentTemplate,
    Intake,
    Patient,
    PatientInvitation,
    ScreeningResponse,
)

RECORDS = (
    Patient,
    Intake,
    ScreeningResponse,
    ConsentSignature,
    ConsentTemplate,
    PatientInvitation,
    User,
)


def status_of(first_name: str):
    return selectors.clinical_status(Patient.objects.get(first_name=first_name))


def test_loading_the_demo_twice_adds_no_patient_or_record(demo):
    first = {model: model.objects.count() for model in RECORDS}
    call_command("demo_data")
    assert {model: model.objects.count() for model in RECORDS} == first
    # Six from the patients' demo, two more the sessions' demo books at Toronto.
    assert first[Patient] == 8


def test_the_clean_patient_may_be_needled(demo):
    emma = status_of("Emma")
    assert emma.screening_valid and emma.consent_valid
    assert emma.flags == [] and emma.alerts == []


def test_the_patient_on_blood_thinners_has_a_relative_contraindication(demo):
    walter = status_of("Walter")
    assert [flag.contraindication for flag in walter.relative_flags] == ["blood_thinners"]
    assert walter.absolute_flags == []
    assert walter.screening_valid and walter.consent_valid


def test_the_child_of_nine_is_refused_though_her_guardian_consented(demo):
    lily = status_of("Lily")
    assert lily.age == 9
    assert [flag.contraindication for flag in lily.absolute_flags] == ["under_12"]
    assert lily.consent_valid
    assert lily.consent.guardian_relationship == "Mother"
    assert lily.consent.signer_name == "Claire Tremblay"


def test_the_patient_who_signed_version_one_must_sign_the_new_consent(demo):
    noah = status_of("Noah")
    assert noah.consent_state == selectors.ConsentState.OUTDATED
    assert (noah.consent.template_version, noah.current_consent_version) == (1, 2)
    assert not noah.consent_valid
    assert noah.screening_valid


def test_the_toronto_patients_screening_has_expired(demo):
    sofia = Patient.objects.get(first_name="Sofia")
    assert sofia.home_clinic.name == "Toronto"
    status = selectors.clinical_status(sofia)
    assert status.screening_state == selectors.ScreeningState.EXPIRED
    assert status.consent_valid


def test_the_other_organisation_has_its_own_patient(demo):
    aidan = Patient.objects.get(first_name="Aidan")
    assert aidan.organization.name == "Harbourside Needling Co."
    status = selectors.clinical_status(aidan)
    assert status.screening_valid and status.consent_valid
    assert status.current_consent_version == 1


def test_the_portal_demo_login_works_with_the_demo_password(demo):
    client = Client()
    response = client.post(
        reverse("account_login"), {"login": PORTAL_EMAIL, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email=PORTAL_EMAIL)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert Patient.objects.get(user=user).full_name == "Emma Clarke"
