"""The access log takes a read of a merged-away record: the guard of migration 0007 goes.

Migration 0007 put its guard on every table naming a patient. A merge never
moves the access log's rows (they are hash-chained and never change:
patients.merging.movers() leaves them out), so the guard kept nothing in the
right place there; it only refused to log a read that a page made of the record
just before a merge committed (the page then failed), and cost a locked read of
the patient row for every row a list logs (16 ms of a week's calendar's 1,200).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("patients", "0012_emergency_access")]

    operations = [
        migrations.RunSQL(
            "DROP TRIGGER IF EXISTS refuse_merged_patient_id ON patients_recordread;",
            "CREATE TRIGGER refuse_merged_patient_id BEFORE INSERT OR UPDATE OF patient_id "
            "ON patients_recordread FOR EACH ROW "
            "EXECUTE FUNCTION refuse_merged_patient('patient_id');",
        )
    ]
