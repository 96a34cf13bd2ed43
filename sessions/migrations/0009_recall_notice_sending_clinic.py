"""A recall notice belongs to the clinic that sends it (sessions/models/recall.py).

That is the clinic of the patient's first session with the lot, so the staff
who needled a patient away from their home clinic send the notice and see it.
Existing notices (and their history) get that clinic, or the patient's home
clinic when no session with the lot is left; the "sent notices never change"
trigger is held off for that one update. The clinic stays in the notice's
organisation: a composite foreign key, as for the patient.
"""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

BACKFILL = """
    UPDATE treatment_sessions_recallnotice notice
    SET clinic_id = COALESCE(
        (
            SELECT session.clinic_id
            FROM treatment_sessions_treatmentsession session
            JOIN treatment_sessions_needlesite site ON site.session_id = session.id
            WHERE session.organization_id = notice.organization_id
              AND session.patient_id = notice.patient_id
              AND site.lot_number = notice.lot_number
            ORDER BY session.starts_at, session.id
            LIMIT 1
        ),
        (SELECT home_clinic_id FROM patients_patient WHERE id = notice.patient_id)
    );
    UPDATE treatment_sessions_recallnoticeevent event
    SET clinic_id = COALESCE(
        (SELECT clinic_id FROM treatment_sessions_recallnotice WHERE id = event.pgh_obj_id),
        (SELECT home_clinic_id FROM patients_patient WHERE id = event.patient_id)
    );
"""
PROTECT = "pgtrigger_sent_notice_unchanged_18a4d"


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0004_clinic_emergency_number"),
        ("treatment_sessions", "0008_sessions_without_needling"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="recallnotice",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="recallnotice",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="recallnotice",
            name="delete_delete",
        ),
        migrations.AddField(
            model_name="recallnotice",
            name="clinic",
            field=models.ForeignKey(
                help_text="The clinic that sends it: where the patient was first needled with the lot.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="clinics.clinic",
            ),
        ),
        migrations.AddField(
            model_name="recallnoticeevent",
            name="clinic",
            field=models.ForeignKey(
                db_constraint=False,
                help_text="The clinic that sends it: where the patient was first needled with the lot.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="clinics.clinic",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="recallnotice",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "clinic_id", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (NEW."attempts", NEW."clinic_id", NEW."email", NEW."failed_at", NEW."id", NEW."last_error", NEW."lot_number", NEW."organization_id", NEW."patient_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."requested_at", NEW."sent_at", NEW."sent_by_id", NEW."status"); RETURN NULL;',
                    hash="d6b7a545fc1a3ad28ada5a1a799f30abf4e6f7b7",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_e3b88",
                    table="treatment_sessions_recallnotice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="recallnotice",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "clinic_id", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (NEW."attempts", NEW."clinic_id", NEW."email", NEW."failed_at", NEW."id", NEW."last_error", NEW."lot_number", NEW."organization_id", NEW."patient_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."requested_at", NEW."sent_at", NEW."sent_by_id", NEW."status"); RETURN NULL;',
                    hash="6eabeeae25ef1a4f95bd1c08b6b2bcf10e7b6503",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_323ed",
                    table="treatment_sessions_recallnotice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="recallnotice",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "clinic_id", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (OLD."attempts", OLD."clinic_id", OLD."email", OLD."failed_at", OLD."id", OLD."last_error", OLD."lot_number", OLD."organization_id", OLD."patient_id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."requested_at", OLD."sent_at", OLD."sent_by_id", OLD."status"); RETURN NULL;',
                    hash="fbe310af25f57c01b04b06414ab42836201664ac",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_552df",
                    table="treatment_sessions_recallnotice",
                    when="AFTER",
                ),
            ),
        ),
        migrations.RunSQL(
            sql=f"""
                ALTER TABLE treatment_sessions_recallnotice DISABLE TRIGGER {PROTECT};
                {BACKFILL}
                ALTER TABLE treatment_sessions_recallnotice ENABLE TRIGGER {PROTECT};
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="recallnotice",
            name="clinic",
            field=models.ForeignKey(
                help_text="The clinic that sends it: where the patient was first needled with the lot.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="clinics.clinic",
            ),
        ),
        migrations.AlterField(
            model_name="recallnoticeevent",
            name="clinic",
            field=models.ForeignKey(
                db_constraint=False,
                help_text="The clinic that sends it: where the patient was first needled with the lot.",
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="clinics.clinic",
            ),
        ),
        migrations.RunSQL(
            sql="""
                ALTER TABLE treatment_sessions_recallnotice
                ADD CONSTRAINT recall_notice_clinic_in_organization
                FOREIGN KEY (organization_id, clinic_id)
                REFERENCES clinics_clinic (organization_id, id)
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql="""
                ALTER TABLE treatment_sessions_recallnotice
                DROP CONSTRAINT recall_notice_clinic_in_organization
            """,
        ),
    ]
