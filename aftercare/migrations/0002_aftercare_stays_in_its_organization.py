"""Every aftercare row stays in the organisation of its session, patient and clinic.

Held by the database with composite foreign keys, as in the other apps.
"""

from django.db import migrations

SESSION = "treatment_sessions_treatmentsession"
CLINIC = "clinics_clinic"
PATIENT = "patients_patient"

# (table, constraint, columns, referenced table)
COMPOSITE_KEYS = [
    (
        "aftercare_aftercareplan",
        "plan_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "aftercare_aftercareplan",
        "plan_clinic_in_organization",
        "organization_id, clinic_id",
        CLINIC,
    ),
    (
        "aftercare_aftercareplan",
        "plan_patient_in_organization",
        "organization_id, patient_id",
        PATIENT,
    ),
    (
        "aftercare_aftercareplan",
        "plan_template_in_organization",
        "organization_id, template_id",
        "aftercare_aftercaretemplate",
    ),
    (
        "aftercare_planexercise",
        "exercise_plan_in_organization",
        "organization_id, plan_id",
        "aftercare_aftercareplan",
    ),
    (
        "aftercare_planread",
        "read_plan_in_organization",
        "organization_id, plan_id",
        "aftercare_aftercareplan",
    ),
    (
        "aftercare_checkin",
        "check_in_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    ("aftercare_checkin", "check_in_clinic_in_organization", "organization_id, clinic_id", CLINIC),
    (
        "aftercare_checkin",
        "check_in_patient_in_organization",
        "organization_id, patient_id",
        PATIENT,
    ),
    (
        "aftercare_checkinanswer",
        "answer_check_in_in_organization",
        "organization_id, check_in_id",
        "aftercare_checkin",
    ),
    (
        "aftercare_checkinanswer",
        "answer_patient_in_organization",
        "organization_id, patient_id",
        PATIENT,
    ),
    (
        "aftercare_alert",
        "alert_check_in_in_organization",
        "organization_id, check_in_id",
        "aftercare_checkin",
    ),
    ("aftercare_alert", "alert_session_in_organization", "organization_id, session_id", SESSION),
    ("aftercare_alert", "alert_clinic_in_organization", "organization_id, clinic_id", CLINIC),
    ("aftercare_alert", "alert_patient_in_organization", "organization_id, patient_id", PATIENT),
    (
        "aftercare_alertnote",
        "note_alert_in_organization",
        "organization_id, alert_id",
        "aftercare_alert",
    ),
]


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=f"""
                ALTER TABLE {table} ADD CONSTRAINT {name}
                FOREIGN KEY ({columns}) REFERENCES {target} (organization_id, id)
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, name, columns, target in COMPOSITE_KEYS
    ]
