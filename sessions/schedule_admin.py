"""The calendar's makings in the Django admin: appointment types, booking settings, working
hours, changes; and the therapists' calendar feeds.

Every save and delete goes through sessions.services.schedule, so the admin
refuses what the API and the pages refuse, with the same words. Imported by
sessions/admin.py.
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.utils import timezone

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import ReadOnlyMixin, SavedByServiceForm, ServiceAdmin
from clinics.exceptions import FasciaError
from clinics.selectors import therapists_of
from patients.admin.versions import organization_to_prefill
from sessions.models import (
    AppointmentType,
    BookingSettings,
    CalendarFeed,
    ScheduleChange,
    WorkingHours,
)
from sessions.services import feeds, schedule
from sessions.services.schedule import SETTINGS_RANGES, TYPE_FIELDS


def therapists_for(user, model) -> QuerySet:
    """The therapists of the clinics where `user` keeps `model`'s rows."""
    clinics = access.clinics_for(user, model, "add")
    return therapists_of(clinics=clinics).order_by("full_name", "email")


class AppointmentTypeForm(SavedByServiceForm):
    class Meta:
        model = AppointmentType
        fields = ["organization", *TYPE_FIELDS]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}
        help_texts = {"is_active": "Untick to retire the type: sessions booked with it keep it."}

    def validate_constraints(self):
        pass  # the service says "already has an appointment type named ..." in plain words

    def call_service(self) -> AppointmentType:
        fields = {name: self.cleaned_data[name] for name in TYPE_FIELDS}
        if self.adding:
            return schedule.create_appointment_type(
                organization=self.cleaned_data["organization"], by=self.by, **fields
            )
        return schedule.update_appointment_type(
            appointment_type=self.instance, by=self.by, **fields
        )


@admin.register(AppointmentType)
class AppointmentTypeAdmin(ServiceAdmin):
    """Organisation admins keep the types; retired ones (not active) are never deleted."""

    form = AppointmentTypeForm
    list_display = ["name", "minutes", "needling", "bookable_online", "is_active", "organization"]
    list_filter = ["needling", "bookable_online", "is_active"]
    list_select_related = ["organization"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, AppointmentType)
        if organization is not None:
            initial.setdefault("organization", organization)
        return initial


class BookingSettingsForm(SavedByServiceForm):
    class Meta:
        model = BookingSettings
        fields = ["organization", *SETTINGS_RANGES]

    def validate_constraints(self):
        pass  # save_booking_settings names the field and the rule

    def call_service(self) -> BookingSettings:
        return schedule.save_booking_settings(
            organization=self.cleaned_data.get("organization") or self.instance.organization,
            by=self.by,
            **{name: self.cleaned_data[name] for name in SETTINGS_RANGES},
        )


@admin.register(BookingSettings)
class BookingSettingsAdmin(ServiceAdmin):
    """One per organisation, saved through the service; without one, the defaults hold
    (reminders 24 hours before, 24 hours' notice, online booking 60 days ahead)."""

    form = BookingSettingsForm
    list_display = ["organization", *SETTINGS_RANGES]
    list_select_related = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, BookingSettings)
        if organization is not None:
            initial.setdefault("organization", organization)
        return initial


class ScheduleAdmin(ServiceAdmin):
    """Rows kept by a clinic's managers: saved and deleted through the services."""

    list_select_related = ["clinic", "therapist"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return access.ScopedAdminMixin.has_delete_permission(self, request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "therapist":
            kwargs["queryset"] = therapists_for(request.user, self.model)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def delete_model(self, request, obj):
        self.remove(obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.remove(obj, by=request.user)

    def remove(self, obj, *, by) -> None:
        raise NotImplementedError


class WorkingHoursForm(SavedByServiceForm):
    class Meta:
        model = WorkingHours
        fields = ["clinic", "therapist", "weekday", "starts", "ends"]

    def validate_constraints(self):
        pass  # the service names the hours that overlap

    def call_service(self) -> WorkingHours:
        data = self.cleaned_data
        if self.adding:
            return schedule.add_working_hours(
                clinic=data["clinic"],
                therapist=data["therapist"],
                weekday=data["weekday"],
                starts=data["starts"],
                ends=data["ends"],
                by=self.by,
            )
        return schedule.change_working_hours(
            hours=self.instance, by=self.by, starts=data["starts"], ends=data["ends"]
        )


@admin.register(WorkingHours)
class WorkingHoursAdmin(ScheduleAdmin):
    form = WorkingHoursForm
    list_display = ["therapist", "clinic", "weekday", "starts", "ends"]
    list_filter = ["clinic", "weekday"]
    search_fields = ["therapist__full_name", "therapist__email"]
    ordering = ["therapist__full_name", "weekday", "starts"]

    def get_readonly_fields(self, request, obj=None):
        return ["clinic", "therapist", "weekday"] if obj is not None else []

    def remove(self, obj, *, by) -> None:
        schedule.remove_working_hours(hours=obj, by=by)


def on_the_clinics_clock(entered: datetime.datetime, clinic) -> datetime.datetime:
    """A date and time typed into the admin (read on the server's clock, UTC) as the same
    wall-clock time at `clinic`: "09:00" means nine in the morning there."""
    wall = timezone.localtime(entered, datetime.UTC).replace(tzinfo=None)
    return timezone.make_aware(wall, clinic.zone)


class ScheduleChangeForm(SavedByServiceForm):
    class Meta:
        model = ScheduleChange
        fields = ["clinic", "kind", "therapist", "starts_at", "ends_at", "reason"]
        help_texts = {
            "starts_at": "On the clinic's clock.",
            "ends_at": "On the clinic's clock.",
        }

    def validate_constraints(self):
        pass  # the service says which of therapist and kind is wrong

    def call_service(self) -> ScheduleChange:
        data = self.cleaned_data
        clinic = data["clinic"]
        return schedule.add_schedule_change(
            clinic=clinic,
            kind=data["kind"],
            therapist=data.get("therapist"),
            starts_at=on_the_clinics_clock(data["starts_at"], clinic),
            ends_at=on_the_clinics_clock(data["ends_at"], clinic),
            reason=data.get("reason", ""),
            by=self.by,
        )


@admin.register(ScheduleChange)
class ScheduleChangeAdmin(ScheduleAdmin):
    """Added and removed, never changed: a change of plan is a new row."""

    form = ScheduleChangeForm
    list_display = ["kind", "therapist", "clinic", "starts", "ends", "reason"]
    list_filter = ["kind", "clinic"]
    ordering = ["-starts_at"]

    @admin.display(description="from (clinic time)", ordering="starts_at")
    def starts(self, change: ScheduleChange) -> str:
        return f"{timezone.localtime(change.starts_at, change.clinic.zone):%Y-%m-%d %H:%M}"

    @admin.display(description="to (clinic time)", ordering="ends_at")
    def ends(self, change: ScheduleChange) -> str:
        return f"{timezone.localtime(change.ends_at, change.clinic.zone):%Y-%m-%d %H:%M}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        change = self.get_object(request, unquote(object_id))
        with timezone.override(change.clinic.zone):
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # inside the override: the template reads the clock
        return response

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def remove(self, obj, *, by) -> None:
        schedule.remove_schedule_change(change=obj, by=by)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(
    EventHistoryMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin
):
    """Therapists' calendar feeds, for organisation admins and clinic managers: read only,
    revoked by the action (through the service). Made by the therapists themselves, who
    alone see the address, once."""

    list_display = ["therapist", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["therapist"]
    search_fields = ["name", "therapist__email", "therapist__full_name"]
    fields = [
        "organization",
        "therapist",
        "name",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected calendar feeds", permissions=["view"])
    def revoke(self, request, queryset):
        revoked = refused = 0
        for feed in queryset:
            try:
                revoked += feeds.revoke_calendar_feed(feed=feed, by=request.user)
            except FasciaError:
                refused += 1
        messages.success(
            request, f"{revoked} calendar feed(s) revoked: their addresses no longer work."
        )
        if refused:
            messages.error(request, f"{refused} feed(s) not revoked: your role does not allow it.")
