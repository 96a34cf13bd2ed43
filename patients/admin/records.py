"""Patients and the records they and the staff submitted; the access log."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Q

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import ReadOnlyMixin, SavedByServiceForm, ServiceAdmin
from clinics.exceptions import FasciaError
from patients import merging, services
from patients.exceptions import LikelyDuplicate
from patients.models import (
    ConsentSignature,
    ConsentWithdrawal,
    Intake,
    Patient,
    PatientInvitation,
    ReadVia,
    RecordPart,
    RecordRead,
    ScreeningAnswer,
    ScreeningResponse,
)
from patients.services import merge


class LoggedReadsMixin:
    """Every admin page of a patient-record model that shows a patient's rows is written in the
    access log, by construction: a row's page, its history and its delete page are a read of
    `read_part` of that patient's record; a list, one read of `list_part` per patient on the page
    shown (one insert). What a subclass logged itself (a chart, with its session) is not logged
    twice. As on the pages and in the API.
    """

    read_part: RecordPart = RecordPart.DETAILS
    list_part: RecordPart | None = None  # read_part unless the list shows less

    def changelist_view(self, request, extra_context=None):
        with services.one_response():
            response = super().changelist_view(request, extra_context)
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            if changelist is not None:
                # Read once, here; the page shows the same rows.
                changelist.result_list = list(changelist.result_list)
                self.log_reads(request, changelist.result_list, self.list_part or self.read_part)
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with services.one_response():
            response = super().changeform_view(request, object_id, form_url, extra_context)
            self.log_page(request, response, "original")
        return response

    def history_view(self, request, object_id, extra_context=None):
        with services.one_response():
            response = super().history_view(request, object_id, extra_context)
            self.log_page(request, response, "object")
        return response

    def delete_view(self, request, object_id, extra_context=None):
        with services.one_response():
            response = super().delete_view(request, object_id, extra_context)
            self.log_page(request, response, "object")
        return response

    def log_page(self, request, response, name: str) -> None:
        row = (getattr(response, "context_data", None) or {}).get(name)
        if response.status_code == 200 and row is not None:
            self.log_reads(request, [row], self.read_part)

    def log_reads(self, request, rows, part: RecordPart) -> None:
        services.record_reads_of(reader=request.user, rows=rows, part=part, via=ReadVia.ADMIN)


class RecordAdmin(
    LoggedReadsMixin, EventHistoryMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin
):
    """A patient's intake, screening or consent: read-only, every read logged."""

    list_select_related = ["patient"]
    search_fields = ["patient__first_name", "patient__last_name"]


class ReadOnlyInline(ReadOnlyMixin, access.ScopedAdminMixin, admin.TabularInline):
    extra = 0


class PatientForm(SavedByServiceForm):
    different_person = forms.BooleanField(
        label="This is a different person",
        required=False,
        help_text="Tick this only when Fascia has found a patient who may be this one (a "
        "similar name and the same date of birth, the same phone or e-mail) and you have "
        "checked that they are someone else.",
    )
    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # Made when the add page is shown: saving twice (a double click) registers once.
    registration_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Patient
        fields = ["home_clinic", *services.PATIENT_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.adding:
            # Saving over someone else's newer save is refused (EditConflict), not silent.
            self.initial.setdefault("expected_version", self.instance.version)
        else:
            self.initial.setdefault("registration_key", uuid.uuid4())

    def call_service(self) -> Patient:
        details = {name: self.cleaned_data[name] for name in services.PATIENT_FIELDS}
        allow_duplicate = self.cleaned_data.get("different_person", False)
        try:
            if not self.adding:
                return services.update_patient(
                    patient=self.instance,
                    by=self.by,
                    expected_version=self.cleaned_data.get("expected_version"),
                    allow_duplicate=allow_duplicate,
                    home_clinic=self.cleaned_data["home_clinic"],
                    **details,
                )
            return services.register_patient(
                home_clinic=self.cleaned_data["home_clinic"],
                by=self.by,
                allow_duplicate=allow_duplicate,
                submission_key=self.cleaned_data.get("registration_key"),
                **details,
            )
        except LikelyDuplicate as duplicate:
            self.add_error("different_person", duplicate.message)
            return None


@admin.register(Patient)
class PatientAdmin(LoggedReadsMixin, ServiceAdmin):
    read_part = RecordPart.DETAILS
    list_part = RecordPart.LIST
    form = PatientForm
    list_display = ["name", "date_of_birth", "home_clinic", "portal_login"]
    list_filter = [("home_clinic", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["home_clinic"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    readonly_fields = ["created_at", "created_by", "user", "version"]
    actions = ["disconnect_portal_login"]

    def get_fieldsets(self, request, obj=None):
        person = ["home_clinic", "first_name", "last_name", "date_of_birth", "different_person"]
        person.append("registration_key" if obj is None else "expected_version")
        fieldsets = [
            (None, {"fields": person}),
            ("Contact", {"fields": ["email", "phone", "address", "preferred_language"]}),
            (
                "Emergency contact",
                {
                    "fields": [
                        "emergency_contact_name",
                        "emergency_contact_relationship",
                        "emergency_contact_phone",
                    ]
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Record", {"fields": self.readonly_fields}))
        return fieldsets

    @admin.display(description="name", ordering="last_name")
    def name(self, patient: Patient) -> str:
        return patient.full_name

    @admin.display(description="portal login", boolean=True)
    def portal_login(self, patient: Patient) -> bool:
        return patient.user_id is not None

    @admin.action(description=merging.DISCONNECT_LOGIN)
    def disconnect_portal_login(self, request, queryset):
        """Settles two logins of one person before their records are merged."""
        for patient in queryset:
            try:
                merge.disconnect_portal_login(patient=patient, by=request.user)
            except FasciaError as refusal:
                self.message_user(request, refusal.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{patient.full_name}'s record has no portal login now.",
                    messages.SUCCESS,
                )


class ScreeningAnswerInline(ReadOnlyInline):
    model = ScreeningAnswer
    fields = ["question", "answer", "detail"]
    readonly_fields = fields


@admin.register(ScreeningResponse)
class ScreeningResponseAdmin(RecordAdmin):
    read_part = RecordPart.SCREENING
    inlines = [ScreeningAnswerInline]
    list_display = ["patient", "submitted_at", "valid_until", "flags", "channel"]
    fields = [
        "patient",
        "questionnaire",
        "flags",
        "channel",
        "submitted_at",
        "submitted_by",
        "valid_until",
        "change_reported_at",
        "change_reported_by",
        "change_note",
    ]


@admin.register(Intake)
class IntakeAdmin(RecordAdmin):
    read_part = RecordPart.INTAKE
    list_display = ["patient", "activity_level", "channel", "updated_at"]
    fields = [
        "patient",
        "presenting_complaint",
        "pain_areas",
        "conditions",
        "medications",
        "allergies",
        "surgeries",
        "activity_level",
        "goals",
        "channel",
        "updated_at",
        "updated_by",
    ]

    @admin.display(description="past surgeries")
    def surgeries(self, intake: Intake) -> str:
        # Surgeries hang off the patient, not the intake, so they cannot be an inline.
        return "; ".join(str(surgery) for surgery in intake.patient.surgeries.all()) or "-"


@admin.register(ConsentSignature)
class ConsentSignatureAdmin(RecordAdmin):
    read_part = RecordPart.CONSENT
    list_display = ["patient", "template_version", "signer_name", "signed_at", "withdrawn"]
    list_select_related = ["patient", "withdrawal"]
    search_fields = ["patient__first_name", "patient__last_name", "signer_name"]
    fields = [
        "patient",
        "template",
        "template_version",
        "signer_name",
        "guardian_relationship",
        "signed_at",
        "channel",
        "recorded_by",
        "ip_address",
        "user_agent",
        "text",
        "text_sha256",
    ]

    @admin.display(description="withdrawn", boolean=True)
    def withdrawn(self, signature: ConsentSignature) -> bool:
        return hasattr(signature, "withdrawal")


@admin.register(ConsentWithdrawal)
class ConsentWithdrawalAdmin(RecordAdmin):
    read_part = RecordPart.CONSENT
    list_display = ["patient", "signature", "withdrawn_at", "channel"]
    list_select_related = ["patient", "signature"]
    fields = ["patient", "signature", "withdrawn_at", "reason", "channel", "recorded_by"]


@admin.register(PatientInvitation)
class PatientInvitationAdmin(
    LoggedReadsMixin, EventHistoryMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin
):
    list_display = ["patient", "email", "created_at", "expires_at", "accepted_at"]
    list_select_related = ["patient"]
    search_fields = ["patient__first_name", "patient__last_name", "email"]
    fields = [
        "patient",
        "email",
        "created_at",
        "created_by",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]


@admin.register(RecordRead)
class RecordReadAdmin(LoggedReadsMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    """The access log, for organisation admins: who read which part of whose record.

    It names the patients, so reading it is itself logged (as a list of names).
    """

    read_part = RecordPart.LIST

    list_display = ["read_at", "reader", "whose", "part", "via"]
    list_filter = ["part", "via"]
    list_select_related = ["reader", "patient"]
    search_fields = ["patient__first_name", "patient__last_name", "reader__email"]
    fields = ["read_at", "reader", "whose", "listed", "part", "via"]

    @admin.display(description="patient")
    def whose(self, read: RecordRead) -> str:
        return str(read.patient) if read.patient_id else f"A list of {len(read.patients)} patients"

    @admin.display(description="patients listed")
    def listed(self, read: RecordRead) -> str:
        if not read.patients:
            return "-"
        named = Patient.all_records.filter(pk__any_of=read.patients)
        return "; ".join(str(patient) for patient in named)

    def get_search_results(self, request, queryset, search_term):
        """A patient's name also finds the lists that showed them."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            named = Patient.all_records.filter(
                Q(first_name__icontains=search_term) | Q(last_name__icontains=search_term)
            ).values("pk")
            found = found | queryset.filter(patients__overlap=ArraySubquery(named))
        return found, duplicates

    def log_page(self, request, response, name: str) -> None:
        """A list's read names its patients on its page: reading it reads their names."""
        super().log_page(request, response, name)
        read = (getattr(response, "context_data", None) or {}).get(name)
        if response.status_code == 200 and read is not None and read.patients:
            listed = Patient.all_records.filter(pk__any_of=read.patients)
            services.record_reads(
                reader=request.user, patients=listed, part=self.read_part, via=ReadVia.ADMIN
            )
