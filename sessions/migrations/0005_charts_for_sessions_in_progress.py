"""Sessions started before charts existed get their empty chart, as starting now makes one."""

from django.db import migrations


def make_charts(apps, schema_editor):
    TreatmentSession = apps.get_model("treatment_sessions", "TreatmentSession")
    Chart = apps.get_model("treatment_sessions", "Chart")
    Chart.objects.bulk_create(
        Chart(organization_id=session.organization_id, session_id=session.pk)
        for session in TreatmentSession.objects.filter(status="in_progress", chart__isnull=True)
    )


class Migration(migrations.Migration):
    dependencies = [("treatment_sessions", "0004_charts_stay_in_their_organization")]

    operations = [migrations.RunPython(make_charts, migrations.RunPython.noop)]
