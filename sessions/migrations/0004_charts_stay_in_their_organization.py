"""Every row of a chart stays in its session's organisation.

Held by the database with composite foreign keys, as in the other apps.
"""

from django.db import migrations

SESSION = "treatment_sessions_treatmentsession"

# (table, constraint, columns, referenced table)
COMPOSITE_KEYS = [
    (
        "treatment_sessions_chart",
        "chart_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "treatment_sessions_chart",
        "chart_template_in_organization",
        "organization_id, template_id",
        "treatment_sessions_charttemplate",
    ),
    (
        "treatment_sessions_needlesite",
        "needle_site_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "treatment_sessions_needlesite",
        "needle_site_muscle_in_organization",
        "organization_id, organization_muscle_id",
        "treatment_sessions_organizationmuscle",
    ),
    (
        "treatment_sessions_rangeofmotion",
        "rom_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "treatment_sessions_pressurepainthreshold",
        "ppt_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "treatment_sessions_adverseevent",
        "adverse_event_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
    (
        "treatment_sessions_adverseeventreview",
        "review_event_in_organization",
        "organization_id, adverse_event_id",
        "treatment_sessions_adverseevent",
    ),
    (
        "treatment_sessions_addendum",
        "addendum_session_in_organization",
        "organization_id, session_id",
        SESSION,
    ),
]


class Migration(migrations.Migration):
    dependencies = [("treatment_sessions", "0003_chart")]

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
