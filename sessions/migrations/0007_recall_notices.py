"""Recall notices: one e-mail per patient per needle lot (sessions/models/recall.py).

The notice stays in its patient's organisation: a composite foreign key, as in
the other apps (Django has no composite foreign keys yet).
"""

import uuid

import django.db.models.deletion
import django.utils.timezone
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0004_clinic_emergency_number"),
        ("patients", "0004_record_read_aftercare_parts"),
        ("pghistory", "0007_auto_20250421_0444"),
        ("treatment_sessions", "0006_chart_needling_ended_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RecallNotice",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "lot_number",
                    models.CharField(
                        help_text="As the needle sites record it: capitals, single spaces.",
                        max_length=40,
                        verbose_name="needle lot number",
                    ),
                ),
                (
                    "email",
                    models.EmailField(
                        help_text="The patient's address when the notice was asked for.",
                        max_length=254,
                        verbose_name="e-mail address used",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("queued", "Queued"), ("sent", "Sent"), ("failed", "Failed")],
                        default="queued",
                        max_length=6,
                    ),
                ),
                ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("failed_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinics.organization",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="patients.patient",
                    ),
                ),
                (
                    "sent_by",
                    models.ForeignKey(
                        help_text="Who asked for the notice to be sent (the last to ask, after a failure).",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "recall notice",
                "ordering": ["requested_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="RecallNoticeEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, serialize=False)),
                (
                    "lot_number",
                    models.CharField(
                        help_text="As the needle sites record it: capitals, single spaces.",
                        max_length=40,
                        verbose_name="needle lot number",
                    ),
                ),
                (
                    "email",
                    models.EmailField(
                        help_text="The patient's address when the notice was asked for.",
                        max_length=254,
                        verbose_name="e-mail address used",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("queued", "Queued"), ("sent", "Sent"), ("failed", "Failed")],
                        default="queued",
                        max_length=6,
                    ),
                ),
                ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("failed_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                (
                    "organization",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        related_query_name="+",
                        to="clinics.organization",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        related_query_name="+",
                        to="patients.patient",
                    ),
                ),
                (
                    "pgh_context",
                    models.ForeignKey(
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="pghistory.context",
                    ),
                ),
                (
                    "pgh_obj",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="events",
                        to="treatment_sessions.recallnotice",
                    ),
                ),
                (
                    "sent_by",
                    models.ForeignKey(
                        db_constraint=False,
                        help_text="Who asked for the notice to be sent (the last to ask, after a failure).",
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        related_query_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.AddConstraint(
            model_name="recallnotice",
            constraint=models.UniqueConstraint(
                fields=("organization", "lot_number", "patient"),
                name="recall_notice_once_per_patient_and_lot",
                violation_error_message="This patient already has a notice for this lot.",
            ),
        ),
        migrations.AddConstraint(
            model_name="recallnotice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("sent_at__isnull", True), ("status", "queued")),
                    models.Q(("sent_at__isnull", False), ("status", "sent")),
                    models.Q(
                        ("failed_at__isnull", False),
                        ("sent_at__isnull", True),
                        ("status", "failed"),
                        models.Q(("last_error", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="recall_notice_status_matches_its_times",
                violation_error_message="A sent notice has its time; a failed one its error.",
            ),
        ),
        migrations.AddConstraint(
            model_name="recallnotice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("lot_number", ""), _negated=True),
                    models.Q(("email", ""), _negated=True),
                ),
                name="recall_notice_lot_and_address",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="recallnotice",
            trigger=pgtrigger.compiler.Trigger(
                name="sent_notice_unchanged",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.\"status\" = 'sent')",
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="12fb6bb775d73c045c56a355e6279aeaebad94f7",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_sent_notice_unchanged_18a4d",
                    table="treatment_sessions_recallnotice",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="recallnotice",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (NEW."attempts", NEW."email", NEW."failed_at", NEW."id", NEW."last_error", NEW."lot_number", NEW."organization_id", NEW."patient_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."requested_at", NEW."sent_at", NEW."sent_by_id", NEW."status"); RETURN NULL;',
                    hash="745a882a7a1e7e8a7e5dee26c98055a93d166975",
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
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (NEW."attempts", NEW."email", NEW."failed_at", NEW."id", NEW."last_error", NEW."lot_number", NEW."organization_id", NEW."patient_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."requested_at", NEW."sent_at", NEW."sent_by_id", NEW."status"); RETURN NULL;',
                    hash="259cda9d688692c53706d0e04386b071d72a64e3",
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
                    func='INSERT INTO "treatment_sessions_recallnoticeevent" ("attempts", "email", "failed_at", "id", "last_error", "lot_number", "organization_id", "patient_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_at", "sent_at", "sent_by_id", "status") VALUES (OLD."attempts", OLD."email", OLD."failed_at", OLD."id", OLD."last_error", OLD."lot_number", OLD."organization_id", OLD."patient_id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."requested_at", OLD."sent_at", OLD."sent_by_id", OLD."status"); RETURN NULL;',
                    hash="9cd2c5616ccc7e2472d3892bacd903983e0e6655",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_552df",
                    table="treatment_sessions_recallnotice",
                    when="AFTER",
                ),
            ),
        ),
        migrations.RunSQL(
            sql="""
                ALTER TABLE treatment_sessions_recallnotice
                ADD CONSTRAINT recall_notice_patient_in_organization
                FOREIGN KEY (organization_id, patient_id)
                REFERENCES patients_patient (organization_id, id)
                DEFERRABLE INITIALLY DEFERRED
            """,
            reverse_sql="""
                ALTER TABLE treatment_sessions_recallnotice
                DROP CONSTRAINT recall_notice_patient_in_organization
            """,
        ),
    ]
