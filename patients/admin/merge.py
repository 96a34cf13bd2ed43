"""The record of every merge of two patient records, for organisation admins: read-only."""

from django.contrib import admin

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import ReadOnlyMixin
from patients.models import PatientMerge


@admin.register(PatientMerge)
class PatientMergeAdmin(
    EventHistoryMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin
):
    """Merges are made on the patient pages (or the API), never here; this is their record."""

    list_display = ["merged_at", "merged", "kept", "merged_by"]
    list_select_related = ["merged", "kept", "merged_by"]
    search_fields = [
        "kept__first_name",
        "kept__last_name",
        "merged__first_name",
        "merged__last_name",
    ]
    fields = [
        "merged_at",
        "merged",
        "kept",
        "merged_by",
        "reason",
        "moved",
        "filled",
        "login_moved",
    ]
