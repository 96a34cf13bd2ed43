"""A session's clinic and patient, and an override's session, stay in one organisation.

Held by the database with composite foreign keys, as in the other apps.
"""

from django.db import migrations

# (table, constraint, columns, referenced table)
COMPOSITE_KEYS = [
    (
        "treatment_sessions_treatmentsession",
        "session_clinic_in_organization",
        "organization_id, clinic_id",
        "clinics_clinic",
    ),
    (
        "treatment_sessions_treatmentsession",
        "session_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
    ),
    (
        "treatment_sessions_contraindicationoverride",
        "override_session_in_organization",
        "organization_id, session_id",
        "treatment_sessions_treatmentsession",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("treatment_sessions", "0001_initial"),
        ("patients", "0002_records_stay_in_their_organization"),
    ]

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
