"""No row is written for a patient record that was merged away: the database refuses it.

A merge locks both patient rows and moves every row of the merged-away
record. A write that read the patient before the merge committed (a booking
in flight, check-ins created at signing) would otherwise insert a row for the
tombstone after the merge, where nobody looks. This trigger, on every table
with a foreign key to Patient (the list patients.merging.movers() finds),
refuses an INSERT, or an UPDATE that changes the patient, when that patient's
`merged_into` is set.

It reads the patient row FOR KEY SHARE, the lock the foreign key's own check
takes. The merge holds both patient rows FOR UPDATE (never FOR NO KEY UPDATE),
which conflicts with it: a write that comes while a merge is under way waits
for the merge to commit, then reads the row as the merge left it and is
refused; a write that came first holds its lock until it commits, and the
merge waits for it and then moves its row.

The error is SQLSTATE 23503 (an IntegrityError in Django) with the constraint
name "patient_not_merged", which services turn into an error naming the field.

A new model with a foreign key to Patient needs the trigger too: a migration
in its app with `RunSQL(patients.merging.refuse_merged_patient_sql(table,
column))`. tests/patients/test_merge.py fails while one lacks it.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION refuse_merged_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    patient_column text := TG_ARGV[0];
    target uuid := (to_jsonb(NEW) ->> patient_column)::uuid;
    merged record;
    kept_name text;
BEGIN
    IF target IS NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> patient_column)::uuid = target THEN
        RETURN NEW;  -- the row keeps its patient: not a new row for it
    END IF;
    -- The patient row alone: after waiting for a merge, the row as the merge left it
    -- is read (a join would keep what it found before waiting).
    SELECT first_name || ' ' || last_name AS away_name, merged_at, merged_into_id
      INTO merged
      FROM patients_patient
     WHERE id = target
       FOR KEY SHARE;
    IF merged.merged_into_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT first_name || ' ' || last_name INTO kept_name
      FROM patients_patient WHERE id = merged.merged_into_id;
    RAISE EXCEPTION USING
        ERRCODE = 'foreign_key_violation',
        CONSTRAINT = 'patient_not_merged',
        TABLE = TG_TABLE_NAME,
        COLUMN = patient_column,
        MESSAGE = format(
            '%s''s record was merged into %s''s record (%s) on %s: use that one.',
            merged.away_name, kept_name, merged.merged_into_id,
            to_char(merged.merged_at, 'YYYY-MM-DD')
        );
END
$$;
"""

# Every (table, column) with a foreign key to Patient when this was written.
GUARDED = [
    ("aftercare_aftercareplan", "patient_id"),
    ("aftercare_alert", "patient_id"),
    ("aftercare_checkin", "patient_id"),
    ("aftercare_checkinanswer", "patient_id"),
    ("patients_consentsignature", "patient_id"),
    ("patients_consentwithdrawal", "patient_id"),
    ("patients_formsrequest", "patient_id"),
    ("patients_intake", "patient_id"),
    ("patients_patientinvitation", "patient_id"),
    ("patients_recordread", "patient_id"),
    ("patients_screeningresponse", "patient_id"),
    ("patients_surgery", "patient_id"),
    ("treatment_sessions_recallnotice", "patient_id"),
    ("treatment_sessions_treatmentsession", "patient_id"),
]


def trigger_sql(table: str, column: str) -> str:
    # Named to sort after pgtrigger's triggers ("pgtrigger_..."): a protected row is
    # refused as protected first.
    return (
        f"CREATE TRIGGER refuse_merged_{column} BEFORE INSERT OR UPDATE OF {column} "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_merged_patient('{column}');"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0006_forms_requests"),
        ("treatment_sessions", "0008_sessions_without_needling"),
        ("aftercare", "0005_red_flags_filed_before_the_rest"),
    ]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION refuse_merged_patient() CASCADE;"),
        *(
            migrations.RunSQL(
                trigger_sql(table, column),
                f"DROP TRIGGER IF EXISTS refuse_merged_{column} ON {table};",
            )
            for table, column in GUARDED
        ),
    ]
