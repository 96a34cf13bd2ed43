"""Every patient record stays in its patient's organisation, held by the database.

Django has no composite foreign keys yet, so these are written in SQL: each
pair (organization_id, <parent>_id) must name a parent row of the same
organisation, and a screening answer's question must belong to the very
questionnaire version its response answered.
"""

from django.db import migrations

# (table, constraint, columns, referenced table, referenced columns)
COMPOSITE_KEYS = [
    (
        "patients_patient",
        "patient_home_clinic_in_organization",
        "organization_id, home_clinic_id",
        "clinics_clinic",
        "organization_id, id",
    ),
    (
        "patients_intake",
        "intake_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_surgery",
        "surgery_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_patientinvitation",
        "invitation_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_question",
        "question_questionnaire_in_organization",
        "organization_id, questionnaire_id",
        "patients_questionnaire",
        "organization_id, id",
    ),
    (
        "patients_screeningresponse",
        "screening_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_screeningresponse",
        "screening_questionnaire_in_organization",
        "organization_id, questionnaire_id",
        "patients_questionnaire",
        "organization_id, id",
    ),
    (
        "patients_screeninganswer",
        "answer_questionnaire_in_organization",
        "organization_id, questionnaire_id",
        "patients_questionnaire",
        "organization_id, id",
    ),
    (
        "patients_screeninganswer",
        "answer_response_answers_this_version",
        "organization_id, questionnaire_id, response_id",
        "patients_screeningresponse",
        "organization_id, questionnaire_id, id",
    ),
    (
        "patients_screeninganswer",
        "answer_question_in_this_version",
        "organization_id, questionnaire_id, question_id",
        "patients_question",
        "organization_id, questionnaire_id, id",
    ),
    (
        "patients_consentsignature",
        "consent_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_consentsignature",
        "consent_template_in_organization",
        "organization_id, template_id",
        "patients_consenttemplate",
        "organization_id, id",
    ),
    (
        "patients_consentwithdrawal",
        "withdrawal_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_recordread",
        "record_read_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
        "organization_id, id",
    ),
    (
        "patients_consentwithdrawal",
        "withdrawal_signature_in_organization",
        "organization_id, signature_id",
        "patients_consentsignature",
        "organization_id, id",
    ),
]


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=f"""
                ALTER TABLE {table} ADD CONSTRAINT {name}
                FOREIGN KEY ({columns}) REFERENCES {target} ({target_columns})
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, name, columns, target, target_columns in COMPOSITE_KEYS
    ]
