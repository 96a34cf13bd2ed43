"""A session's clinic and patient belong to the session's organisation, held by the database."""

from django.db import migrations

COMPOSITE_KEYS = [
    (
        "session_clinic_in_organization",
        "organization_id, clinic_id",
        "clinics_clinic",
    ),
    (
        "session_patient_in_organization",
        "organization_id, patient_id",
        "patients_patient",
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
                ALTER TABLE treatment_sessions_treatmentsession ADD CONSTRAINT {name}
                FOREIGN KEY ({columns}) REFERENCES {target} (organization_id, id)
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql=f"ALTER TABLE treatment_sessions_treatmentsession DROP CONSTRAINT {name}",
        )
        for name, columns, target in COMPOSITE_KEYS
    ]
