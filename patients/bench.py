"""`manage.py seed_bench`: each clinic's patients, screened and consented (clinics.bench says how).

Patients are spread evenly over the clinics, each first seen up to three years
back. Each signed the organisation's current consent at that first visit, and
answered the screening again lately (within 80 days, as the default 90-day
validity asks of a patient in treatment), without a contraindication. (The
screening's individual answers are not written: what the pages and readiness
read is the response and its flags.) PORTAL_SHARE of them have a portal login,
made at that first visit, with the seeding's password.
"""

import datetime

from clinics.bench import YEARS, Seeding
from patients.models import ConsentSignature, Patient, ScreeningResponse, sha256_of
from patients.services import current_consent_template, current_questionnaire

PORTAL_SHARE = 0.6
"""The share of patients with a portal login (which answering check-ins needs)."""
SCREENING_VALID = datetime.timedelta(days=90)
"""ClinicalPolicy's default: the seeded organisations keep it."""


def seed(seeding: Seeding) -> None:
    total = seeding.size("patients")
    forms = {}
    for organization in seeding.organizations:
        template = current_consent_template(organization)
        forms[organization.pk] = (
            current_questionnaire(organization).pk,
            template,
            sha256_of(template.body),
        )
    patients, screenings, consents, logins = [], [], [], []
    for number in range(total):
        place = seeding.clinics[number % len(seeding.clinics)]
        clinic = place.clinic
        first, last = seeding.name()
        patient_id = seeding.new_id()
        place.patients.append(patient_id)
        days_ago = seeding.rng.randrange(YEARS * 365)
        first_visit = seeding.now - datetime.timedelta(
            days=days_ago, hours=seeding.rng.randrange(8)
        )
        born = datetime.date(1940, 1, 1) + datetime.timedelta(days=seeding.rng.randrange(25_000))
        email = f"{first}.{last}.{number}@patients.bench.test".lower()
        login = None
        if seeding.rng.random() < PORTAL_SHARE:
            login = seeding.new_id()
            logins.append(seeding.login(login, email, f"{first} {last}", first_visit))
        patients.append(
            (
                patient_id,
                clinic.organization_id,
                clinic.pk,
                first,
                last,
                born,
                email,
                f"+1 250 {number // 10_000 % 1000:03d} {number % 10_000:04d}",
                "",
                "",
                "",
                "",
                "en",
                1,
                first_visit,
                login,
                "",
                "",
            )
        )
        screened = max(
            first_visit, seeding.now - datetime.timedelta(days=seeding.rng.randrange(80))
        )
        questionnaire, template, digest = forms[clinic.organization_id]
        desk = place.desk.pk
        screenings.append(
            (
                seeding.new_id(),
                clinic.organization_id,
                patient_id,
                questionnaire,
                "{}",
                "clinic",
                screened,
                desk,
                screened + SCREENING_VALID,
                "",
            )
        )
        consents.append(
            (
                seeding.new_id(),
                clinic.organization_id,
                patient_id,
                template.pk,
                template.version,
                template.body,
                digest,
                f"{first} {last}",
                "",
                first_visit,
                "",
                "clinic",
                desk,
            )
        )
        if len(patients) == 10_000 or number == total - 1:
            _write(seeding, patients, screenings, consents, logins)
            seeding.progress("patients", number + 1, total)
            patients, screenings, consents, logins = [], [], [], []


def _write(seeding: Seeding, patients, screenings, consents, logins) -> None:
    seeding.write_logins(logins)
    seeding.write(
        Patient,
        [
            *("id", "organization_id", "home_clinic_id", "first_name", "last_name"),
            *("date_of_birth", "email", "phone", "address", "emergency_contact_name"),
            *("emergency_contact_relationship", "emergency_contact_phone"),
            *("preferred_language", "version", "created_at", "user_id"),
            *("imported_from", "imported_id"),
        ],
        patients,
    )
    seeding.write(
        ScreeningResponse,
        [
            *("id", "organization_id", "patient_id", "questionnaire_id", "flags", "channel"),
            *("submitted_at", "submitted_by_id", "valid_until", "change_note"),
        ],
        screenings,
    )
    seeding.write(
        ConsentSignature,
        [
            *("id", "organization_id", "patient_id", "template_id", "template_version"),
            *("text", "text_sha256", "signer_name", "guardian_relationship", "signed_at"),
            *("user_agent", "channel", "recorded_by_id"),
        ],
        consents,
    )
