"""Consent: the exact text kept and sealed, guardians for minors, versions, withdrawal."""

import threading
import uuid

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction

from patients import defaults, selectors, services
from patients.exceptions import ConsentRefused, NotPermitted, SubmissionKeyReused
from patients.models import (
    Channel,
    ConsentSignature,
    ConsentTemplate,
    ConsentWithdrawal,
    sha256_of,
)
from patients.selectors import ConsentState
from tests.patients.factories import PatientFactory, born_years_ago


def sign(patient, by, **kwargs):
    kwargs.setdefault("template", services.current_consent_template(patient.organization))
    kwargs.setdefault("signer_name", patient.full_name)
    return services.sign_consent(patient=patient, by=by, **kwargs)


def publish(world, body="Version two of the consent text."):
    return services.publish_consent_template(
        organization=world.organization, by=world.org_admin, title="Consent", body=body
    )


def test_every_organisation_starts_with_the_default_consent_text(world):
    template = services.current_consent_template(world.organization)
    assert template.version == 1
    assert template.body == defaults.CONSENT_BODY.strip()
    for words in ("soreness", "bruising", "fainting", "infection", "nerve", "pneumothorax"):
        assert words in template.body.lower()
    assert "withdraw" in template.body


def test_a_signature_keeps_the_exact_text_its_hash_and_how_it_was_given(world, patient):
    template = services.current_consent_template(world.organization)
    signature = sign(
        patient,
        patient.user,
        signer_name="  Pat   Morgan ",
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0 (iPhone)",
    )
    signature.refresh_from_db()
    assert signature.text == template.body
    assert signature.text_sha256 == sha256_of(signature.text)
    assert signature.template_version == 1
    assert signature.signer_name == "Pat Morgan"
    assert (signature.ip_address, signature.user_agent) == ("203.0.113.9", "Mozilla/5.0 (iPhone)")
    assert signature.channel == Channel.PORTAL
    assert signature.recorded_by == patient.user
    assert (
        sign(PatientFactory(home_clinic=world.kelowna), world.therapist).channel == Channel.CLINIC
    )
    assert selectors.clinical_status(patient).consent_state == ConsentState.VALID


def test_the_database_refuses_a_hash_that_does_not_match_the_text(world, patient):
    signature = sign(patient, world.therapist)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentSignature.objects.create(
            organization=world.organization,
            patient=patient,
            template=signature.template,
            template_version=1,
            text=signature.text + " (and one more promise)",
            text_sha256=signature.text_sha256,
            signer_name="Pat Morgan",
            channel=Channel.CLINIC,
            recorded_by=world.therapist,
        )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda signatures: signatures.update(text="Something else"),
        lambda signatures: signatures.update(signer_name="Someone else"),
        lambda signatures: signatures.delete(),
    ],
    ids=["text", "signer", "delete"],
)
def test_a_signed_consent_is_never_edited_or_deleted(as_database_owner, world, patient, tamper):
    # The trigger refuses even the owner; Fascia's role lacks the privilege besides
    # (tests/config/test_least_privilege.py).
    signature = sign(patient, world.therapist)
    with pytest.raises(ProgrammingError, match="never_changed"), transaction.atomic():
        tamper(ConsentSignature.objects.filter(pk=signature.pk))
    signature.refresh_from_db()
    assert signature.signer_name == "Pat Morgan"


def test_a_published_consent_text_is_never_edited(world):
    template = services.current_consent_template(world.organization)
    with pytest.raises(ProgrammingError), transaction.atomic():
        ConsentTemplate.objects.filter(pk=template.pk).update(body="Quietly changed")


def test_the_signer_must_type_a_name(world, patient):
    with pytest.raises(ConsentRefused) as refused:
        sign(patient, world.therapist, signer_name="   ")
    assert refused.value.field == "signer_name"
    assert not ConsentSignature.objects.exists()


@pytest.mark.parametrize(
    ("born", "needs_guardian"),
    [(born_years_ago(17), True), (born_years_ago(18, days=1), True), (born_years_ago(18), False)],
    ids=["seventeen", "eighteen-tomorrow", "eighteen-today"],
)
def test_a_minor_is_signed_for_by_a_guardian(world, born, needs_guardian):
    minor = PatientFactory(home_clinic=world.kelowna, date_of_birth=born)
    if needs_guardian:
        with pytest.raises(ConsentRefused) as refused:
            sign(minor, world.therapist)
        assert refused.value.field == "guardian_relationship"
        assert "a parent or guardian signs" in refused.value.message
        signature = sign(
            minor, world.therapist, signer_name="Alex Guardian", guardian_relationship="Mother"
        )
        assert signature.signed_by_guardian
        assert (signature.signer_name, signature.guardian_relationship) == (
            "Alex Guardian",
            "Mother",
        )
    else:
        assert not sign(minor, world.therapist).signed_by_guardian


def test_only_the_current_version_can_be_signed(world, patient):
    first = services.current_consent_template(world.organization)
    second = publish(world)
    assert second.version == 2
    with pytest.raises(ConsentRefused) as refused:
        sign(patient, world.therapist, template=first)
    assert refused.value.field == "template"
    assert "version 2 replaced it" in refused.value.message
    assert sign(patient, world.therapist, template=second).template_version == 2


def test_another_organisations_text_cannot_be_signed(world, patient):
    foreign = services.current_consent_template(world.other_organization)
    with pytest.raises(ConsentRefused):
        sign(patient, world.therapist, template=foreign)


def test_a_new_version_makes_older_signatures_outdated(world, patient):
    sign(patient, world.therapist)
    publish(world)
    status = selectors.clinical_status(patient)
    assert status.consent_state == ConsentState.OUTDATED
    assert not status.consent_valid
    assert "version 2 must be signed" in " ".join(alert.message for alert in status.alerts)


def test_the_organisation_decides_whether_an_outdated_consent_still_counts(world, patient):
    sign(patient, world.therapist)
    publish(world)
    services.save_policy(
        organization=world.organization, by=world.org_admin, outdated_consent_counts=True
    )
    status = selectors.clinical_status(patient)
    assert status.consent_state == ConsentState.OUTDATED
    assert status.consent_valid
    assert [alert.level for alert in status.alerts if "version" in alert.message] == ["warning"]


def test_signing_twice_keeps_one_signature(world, patient):
    first = sign(patient, world.therapist)
    assert sign(patient, world.therapist).pk == first.pk
    key = uuid.uuid4()
    publish(world)
    second = sign(patient, world.therapist, submission_key=key)
    assert sign(patient, world.therapist, submission_key=key).pk == second.pk
    assert ConsentSignature.objects.count() == 2


def test_withdrawal_is_a_new_record_that_stops_treatment(world, patient):
    signature = sign(patient, world.therapist)
    withdrawal = services.withdraw_consent(
        signature=signature, by=patient.user, reason="Changed my mind"
    )
    assert withdrawal.channel == Channel.PORTAL
    assert services.withdraw_consent(signature=signature, by=world.therapist).pk == withdrawal.pk
    signature.refresh_from_db()
    assert signature.text_sha256 == sha256_of(signature.text)
    status = selectors.clinical_status(patient)
    assert status.consent_state == ConsentState.WITHDRAWN
    assert not status.consent_valid

    again = sign(patient, patient.user)
    assert again.pk != signature.pk
    assert selectors.clinical_status(patient).consent_state == ConsentState.VALID


def test_the_front_desk_takes_consent_in_the_clinic_but_a_patient_only_their_own(world, patient):
    other = PatientFactory(home_clinic=world.kelowna)
    assert sign(other, world.front_desk).channel == Channel.CLINIC
    with pytest.raises(NotPermitted):
        sign(other, patient.user)
    with pytest.raises(NotPermitted):
        sign(patient, world.vernon_therapist)
    with pytest.raises(NotPermitted):
        services.withdraw_consent(
            signature=ConsentSignature.objects.get(patient=other), by=patient.user
        )


def test_only_an_organisation_admin_publishes_a_consent_text(world):
    with pytest.raises(NotPermitted):
        services.publish_consent_template(
            organization=world.organization, by=world.therapist, title="x", body="y"
        )


@pytest.mark.django_db(transaction=True)
def test_a_signature_during_a_publication_waits_and_never_lands_on_the_old_version(world):
    patient = PatientFactory(home_clinic=world.kelowna)
    first = services.current_consent_template(world.organization)
    published, commit = threading.Event(), threading.Event()
    outcome = []

    def admin_publishes():
        try:
            with transaction.atomic():
                publish(world)
                published.set()
                commit.wait(timeout=10)
        finally:
            connection.close()

    def therapist_signs():
        try:
            outcome.append(sign(patient, world.therapist, template=first))
        except ConsentRefused as refused:
            outcome.append(refused)
        finally:
            connection.close()

    admin = threading.Thread(target=admin_publishes)
    admin.start()
    assert published.wait(timeout=10)
    therapist = threading.Thread(target=therapist_signs)
    therapist.start()
    therapist.join(timeout=1)
    assert therapist.is_alive(), "signing should wait for the publication to commit"
    commit.set()
    admin.join()
    therapist.join()
    assert isinstance(outcome[0], ConsentRefused)
    assert not ConsentSignature.objects.exists()


def test_a_submission_key_reused_for_another_patient_is_refused(world, patient):
    key = uuid.uuid4()
    sign(patient, world.therapist, submission_key=key)
    other = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(SubmissionKeyReused):
        sign(other, world.therapist, submission_key=key)


def test_only_the_signature_in_force_can_be_withdrawn(world, patient):
    first = sign(patient, patient.user)
    publish(world)
    second = sign(patient, patient.user)
    with pytest.raises(ConsentRefused, match="no longer in force"):
        services.withdraw_consent(signature=first, by=patient.user)
    assert selectors.clinical_status(patient).consent_valid
    services.withdraw_consent(signature=second, by=patient.user)
    states = [state for _, state in selectors.consent_history(patient.user, patient)]
    assert states == ["withdrawn", "replaced"]


def test_any_withdrawal_after_the_latest_signature_means_consent_is_withdrawn(world, patient):
    # Services withdraw only the signature in force; the status does not rely on it.
    first = sign(patient, patient.user)
    publish(world)
    sign(patient, patient.user)
    ConsentWithdrawal.objects.create(
        organization=world.organization,
        signature=first,
        patient=patient,
        channel="portal",
        recorded_by=patient.user,
    )
    status = selectors.clinical_status(patient)
    assert status.consent_state == ConsentState.WITHDRAWN
    assert not status.consent_valid
    states = [state for _, state in selectors.consent_history(patient.user, patient)]
    assert states == ["withdrawn", "withdrawn"]


@pytest.mark.django_db(transaction=True)
def test_two_clicks_on_sign_at_once_record_one_signature(world):
    patient = PatientFactory(home_clinic=world.kelowna)
    template = services.current_consent_template(world.organization)
    barrier = threading.Barrier(2)
    signed = []

    def click():
        try:
            barrier.wait()
            signed.append(sign(patient, world.therapist, template=template).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ConsentSignature.objects.count() == 1
    assert signed == [ConsentSignature.objects.get().pk] * 2
