"""A staff role's clinic belongs to the role's organisation, held by the database.

Django has no composite foreign keys yet, so this one is written in SQL: the
pair (organization_id, clinic_id) must name a clinic of that organisation.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clinics", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
                ALTER TABLE clinics_membership
                ADD CONSTRAINT membership_clinic_in_organization
                FOREIGN KEY (organization_id, clinic_id)
                REFERENCES clinics_clinic (organization_id, id)
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql="ALTER TABLE clinics_membership DROP CONSTRAINT membership_clinic_in_organization",
        ),
    ]
