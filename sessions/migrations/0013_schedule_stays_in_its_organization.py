"""A booking's appointment type, and working hours' and schedule changes' clinic, stay in
one organisation: composite foreign keys, as in 0002."""

from django.db import migrations

# (table, constraint, columns, referenced table)
COMPOSITE_KEYS = [
    (
        "treatment_sessions_treatmentsession",
        "session_appointment_type_in_organization",
        "organization_id, appointment_type_id",
        "treatment_sessions_appointmenttype",
    ),
    (
        "treatment_sessions_workinghours",
        "working_hours_clinic_in_organization",
        "organization_id, clinic_id",
        "clinics_clinic",
    ),
    (
        "treatment_sessions_schedulechange",
        "schedule_change_clinic_in_organization",
        "organization_id, clinic_id",
        "clinics_clinic",
    ),
]


class Migration(migrations.Migration):
    dependencies = [("treatment_sessions", "0012_schedule")]

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
