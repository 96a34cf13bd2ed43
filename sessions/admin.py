"""The Django admin for treatment sessions and their charts, scoped by clinics.access.

A session is booked, started, charted and signed on the pages and through the
API; here it is read, with its chart below it, and never changed: a signed
session is read-only everywhere, and the database refuses changes to it anyway.
The admin's own writes go through sessions.services: reviewing a suspected
pneumothorax, adding a muscle to the vocabulary, writing chart templates.
Nothing is deleted here. Every chart opened here, and every list of chart
rows, is written in the access log.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import ReadOnlyMixin, SavedByServiceForm, ServiceAdmin
from patients import services as patient_services
from patients.admin.records import LoggedReadsMixin
from patients.admin.versions import organization_to_prefill
from patients.contraindications import Contraindication
from patients.models import ReadVia, RecordPart
from sessions import services
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    Chart,
    ChartTemplate,
    ContraindicationOverride,
    Muscle,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    TreatmentSession,
)
from sessions.services.templates import (
    TEMPLATE_FIELDS,
    create_chart_template,
    update_chart_template,
)

# --- Reading a chart is logged ------------------------------------------------------------


class ChartReadsMixin:
    """Opening a chart, or a row of one, writes a read of the patient's chart in the access log.

    As for the other parts of a patient's record: a page (or its history) is
    one read of that session's chart; a list is one read per patient shown.
    """

    logs_lists = True
    logs_history = True

    def session_of(self, obj) -> TreatmentSession:
        return obj.session

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            self.log_read(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        if self.logs_history:
            self.log_read(request, response.context_data["object"])
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if self.logs_lists and changelist is not None:
            patient_services.record_reads(
                reader=request.user,
                patients=[self.session_of(row).patient for row in changelist.result_list],
                part=RecordPart.CHART,
                via=ReadVia.ADMIN,
            )
        return response

    def log_read(self, request, obj) -> None:
        session = self.session_of(obj)
        patient_services.record_read(
            reader=request.user,
            patient=session.patient,
            part=RecordPart.CHART,
            via=ReadVia.ADMIN,
            item=session,
        )


def on_clinic_clock(moment, clinic) -> str:
    """A time as the clinic reads it: each site keeps its own timezone."""
    return f"{timezone.localtime(moment, clinic.zone):%Y-%m-%d %H:%M}"


# --- The session and its chart ------------------------------------------------------------


class ChartInline(ReadOnlyMixin, access.ScopedAdminMixin):
    """Rows of the session's chart, shown read-only to the roles that may read them."""

    extra = 0
    can_delete = False
    show_change_link = False
    related: tuple[str, ...] = ("recorded_by",)

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        # Nothing named: nothing joined (select_related() would join every relation).
        return rows.select_related(*self.related) if self.related else rows

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None) -> bool:
        # `obj` is the session: may this user read this model's rows at its clinic?
        if obj is None:
            return access.may_use(request.user, self.model, "view")
        return access.can_at(
            request.user, "view", self.model, organization=obj.organization, clinic=obj.clinic
        )


class NotesInline(ChartInline, admin.StackedInline):
    model = Chart
    related = ("template", "updated_by")
    verbose_name = verbose_name_plural = "chart"
    fields = [
        "complaint",
        "pain_before",
        "subjective_notes",
        "findings",
        "assessment",
        "plan",
        "pain_after",
        "needles_inserted",
        "needles_removed",
        "needling_ended_at",
        "template",
        "version",
        "updated_at",
        "updated_by",
    ]


class OverrideInline(ChartInline, admin.StackedInline):
    model = ContraindicationOverride
    fields = ["flags", "reason", "recorded_by", "recorded_at"]

    @admin.display(description="relative contraindications at the start")
    def flags(self, override: ContraindicationOverride) -> str:
        return ", ".join(Contraindication(flag).label for flag in override.contraindications)


class RowsInline(ChartInline, admin.TabularInline):
    """A chart's rows of one kind, one line each."""


class NeedleSiteInline(RowsInline):
    model = NeedleSite
    related = ("muscle", "organization_muscle", "recorded_by", "risk_acknowledged_by")
    fields = [
        "muscle_name",
        "side",
        "needles",
        "needle_length_mm",
        "needle_gauge_mm",
        "depth_mm",
        "technique",
        "twitch_response",
        "retention_minutes",
        "lot_number",
        "pneumothorax_risk",
        "risk_acknowledged_by",
        "recorded_by",
    ]


class RangeOfMotionInline(RowsInline):
    model = RangeOfMotion
    fields = ["joint", "movement", "side", "degrees", "recorded_by", "recorded_at"]


class PressurePainThresholdInline(RowsInline):
    model = PressurePainThreshold
    fields = ["site", "side", "kg_per_cm2", "recorded_by", "recorded_at"]


class AdverseEventInline(RowsInline):
    model = AdverseEvent
    fields = ["kind", "severity", "action_taken", "notes", "needs_review", "recorded_by"]
    show_change_link = True  # the review is recorded on the adverse event's own page


class AddendumInline(RowsInline):
    model = Addendum
    related = ("author",)
    fields = ["text", "author", "written_at"]


@admin.register(TreatmentSession)
class TreatmentSessionAdmin(
    LoggedReadsMixin,
    ChartReadsMixin,
    EventHistoryMixin,
    ReadOnlyMixin,
    access.ScopedAdminMixin,
    admin.ModelAdmin,
):
    """Read-only: bookings change on the pages and through the API, a signed chart never."""

    list_display = ["starts", "patient", "therapist", "clinic", "status", "signed_at"]
    list_filter = [
        "status",
        ("clinic", admin.RelatedOnlyFieldListFilter),
        ("therapist", admin.RelatedOnlyFieldListFilter),
        "starts_at",
    ]
    list_select_related = ["clinic", "patient", "therapist"]
    read_part = RecordPart.DETAILS
    list_part = RecordPart.LIST
    # Bookings, no chart: the list and the booking's history are logged as reads of the
    # patient's details (LoggedReadsMixin), the chart on the session's page (ChartReadsMixin).
    logs_lists = False
    logs_history = False
    search_fields = ["patient__first_name", "patient__last_name", "therapist__full_name"]
    search_help_text = "Search by the patient's or the therapist's name."
    ordering = ["-starts_at"]
    inlines = [
        NotesInline,
        OverrideInline,
        NeedleSiteInline,
        RangeOfMotionInline,
        PressurePainThresholdInline,
        AdverseEventInline,
        AddendumInline,
    ]
    fieldsets = [
        (None, {"fields": ["clinic", "patient", "therapist", "starts", "ends", "status"]}),
        ("Booked", {"fields": ["booked_at", "booked_by"]}),
        ("Treated", {"fields": ["started_at", "started_by", "signed_at", "signed_by"]}),
        (
            "Cancelled or missed",
            {
                "fields": [
                    "cancelled_at",
                    "cancelled_by",
                    "cancellation_reason",
                    "no_show_at",
                    "no_show_by",
                    "no_show_reason",
                ],
                "classes": ["collapse"],
            },
        ),
    ]

    @admin.display(description="starts (clinic time)", ordering="starts_at")
    def starts(self, session: TreatmentSession) -> str:
        return on_clinic_clock(session.starts_at, session.clinic)

    @admin.display(description="ends (clinic time)")
    def ends(self, session: TreatmentSession) -> str:
        return on_clinic_clock(session.ends_at, session.clinic)

    def session_of(self, session: TreatmentSession) -> TreatmentSession:
        return session

    def log_read(self, request, session: TreatmentSession) -> None:
        # The page shows the chart below the booking to those who may read it.
        if access.can_at(
            request.user, "view", Chart, organization=session.organization, clinic=session.clinic
        ):
            super().log_read(request, session)


# --- Rows of charts: for the organisation's review -----------------------------------------


class ChartRowAdmin(
    ChartReadsMixin, EventHistoryMixin, ReadOnlyMixin, access.ScopedAdminMixin, admin.ModelAdmin
):
    """Rows of signed or draft charts: read here, written only by charting a session."""

    list_select_related = ["session__patient", "session__clinic", "session__therapist"]

    @admin.display(description="patient", ordering="session__patient__last_name")
    def patient(self, row) -> str:
        return self.session_of(row).patient.full_name

    @admin.display(description="clinic")
    def clinic(self, row) -> str:
        return self.session_of(row).clinic.name

    @admin.display(description="therapist")
    def therapist(self, row) -> str:
        return str(self.session_of(row).therapist)

    @admin.display(description="session (clinic time)", ordering="session__starts_at")
    def session_starts(self, row) -> str:
        session = self.session_of(row)
        return on_clinic_clock(session.starts_at, session.clinic)


@admin.register(NeedleSite)
class NeedleSiteAdmin(ChartRowAdmin):
    """Every needle site, found by its needles' lot number: the list a recall starts from."""

    list_display = [
        "lot_number",
        "muscle_name",
        "side",
        "needles",
        "patient",
        "session_starts",
        "clinic",
        "therapist",
    ]
    list_filter = [("session__clinic", admin.RelatedOnlyFieldListFilter), "technique"]
    list_select_related = [*ChartRowAdmin.list_select_related, "muscle", "organization_muscle"]
    search_fields = ["lot_number", "session__patient__first_name", "session__patient__last_name"]
    search_help_text = "Search by needle lot number (a recall) or the patient's name."
    ordering = ["-session__starts_at", "-recorded_at"]
    fields = [
        "session",
        "muscle",
        "organization_muscle",
        "side",
        "needles",
        "needle_length_mm",
        "needle_gauge_mm",
        "depth_mm",
        "technique",
        "twitch_response",
        "retention_minutes",
        "lot_number",
        "pneumothorax_risk",
        "risk_acknowledged_at",
        "risk_acknowledged_by",
        "recorded_at",
        "recorded_by",
    ]


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("yes", "Reviewed"), ("no", "Not reviewed")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(review__isnull=self.value() == "no")
        return queryset


class ReviewForm(SavedByServiceForm):
    """An organisation admin's review: the adverse event stays as charted, the review is added."""

    note = forms.CharField(
        label="Review note",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the review found and decided. Saved once and never changed.",
    )

    class Meta:
        model = AdverseEvent
        fields = []

    def call_service(self) -> AdverseEventReview:
        return services.review_adverse_event(
            event=self.instance, by=self.by, note=self.cleaned_data["note"]
        )


@admin.register(AdverseEvent)
class AdverseEventAdmin(ChartRowAdmin):
    """Adverse events; a suspected pneumothorax waits here for an organisation admin's review.

    The change page of an event that needs a review offers organisation admins
    a review note; saving it records the review through the service. Nothing
    else about the event changes here.
    """

    form = ReviewForm
    list_display = [
        "recorded_at",
        "kind",
        "severity",
        "patient",
        "clinic",
        "therapist",
        "needs_review",
        "reviewed",
    ]
    list_filter = [
        "needs_review",
        ReviewedFilter,
        "kind",
        "severity",
        ("session__clinic", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = [*ChartRowAdmin.list_select_related, "review__reviewed_by"]
    search_fields = ["session__patient__first_name", "session__patient__last_name"]
    ordering = ["-recorded_at"]
    event_fields = [
        "session",
        "kind",
        "severity",
        "action_taken",
        "notes",
        "needs_review",
        "recorded_at",
        "recorded_by",
        "review_summary",
    ]
    readonly_fields = event_fields

    def get_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return [*self.event_fields, "note"]
        return self.event_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"by": request.user})

    def has_change_permission(self, request, obj=None) -> bool:
        """Only to review: an event that awaits one, by an admin of its organisation."""
        if obj is None:
            return access.may_use(request.user, AdverseEventReview, "add")
        return (
            obj.needs_review
            and not AdverseEventReview.objects.filter(adverse_event=obj).exists()
            and access.can_at(
                request.user, "add", AdverseEventReview, organization=obj.organization
            )
        )

    def save_model(self, request, obj, form, change):
        pass  # ReviewForm recorded the review through the service; the event is unchanged

    def response_change(self, request, obj):
        self.message_user(request, f"Your review of “{obj}” is recorded.", messages.SUCCESS)
        return self.response_post_save_change(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # One button: the review is recorded once, never edited afterwards.
        context.update(show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="reviewed", boolean=True)
    def reviewed(self, event: AdverseEvent) -> bool | None:
        if not event.needs_review:
            return None
        return hasattr(event, "review")

    @admin.display(description="review")
    def review_summary(self, event: AdverseEvent) -> str:
        review = AdverseEventReview.objects.filter(adverse_event=event).first()
        if review is None:
            return "Awaiting an organisation admin's review." if event.needs_review else "-"
        return (
            f"{review.reviewed_by.get_full_name()}, "
            f"{timezone.localtime(review.reviewed_at):%Y-%m-%d %H:%M}: {review.note}"
        )


@admin.register(AdverseEventReview)
class AdverseEventReviewAdmin(ChartRowAdmin):
    list_display = ["reviewed_at", "adverse_event", "patient", "clinic", "reviewed_by"]
    list_select_related = [
        "adverse_event__session__patient",
        "adverse_event__session__clinic",
        "adverse_event__session__therapist",
        "reviewed_by",
    ]
    search_fields = [
        "adverse_event__session__patient__first_name",
        "adverse_event__session__patient__last_name",
    ]
    ordering = ["-reviewed_at"]
    fields = ["adverse_event", "note", "reviewed_by", "reviewed_at"]

    def session_of(self, review: AdverseEventReview) -> TreatmentSession:
        return review.adverse_event.session


@admin.register(Addendum)
class AddendumAdmin(ChartRowAdmin):
    list_display = ["written_at", "patient", "session_starts", "clinic", "author", "excerpt"]
    list_select_related = [*ChartRowAdmin.list_select_related, "author"]
    search_fields = ["session__patient__first_name", "session__patient__last_name", "text"]
    ordering = ["-written_at"]
    fields = ["session", "text", "author", "written_at"]

    @admin.display(description="text")
    def excerpt(self, addendum: Addendum) -> str:
        text = " ".join(addendum.text.split())
        return text if len(text) <= 80 else text[:79] + "…"


# --- What charts are written with ----------------------------------------------------------


class ChartTemplateForm(SavedByServiceForm):
    class Meta:
        model = ChartTemplate
        fields = ["organization", *TEMPLATE_FIELDS]
        help_texts = {"is_active": "Untick to retire the template: charts that used it keep it."}

    def validate_constraints(self):
        pass  # the service says "already has a template named ..." in plain words

    def call_service(self) -> ChartTemplate:
        fields = {name: self.cleaned_data[name] for name in TEMPLATE_FIELDS}
        if self.adding:
            return create_chart_template(
                organization=self.cleaned_data["organization"], by=self.by, **fields
            )
        return update_chart_template(template=self.instance, by=self.by, **fields)


@admin.register(ChartTemplate)
class ChartTemplateAdmin(ServiceAdmin):
    """Organisation admins write the templates; retired ones (not active) are never deleted."""

    form = ChartTemplateForm
    list_display = ["name", "organization", "is_active", "updated_at"]
    list_filter = ["is_active"]
    list_select_related = ["organization"]
    search_fields = ["name"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", *TEMPLATE_FIELDS]
        return ["organization", *TEMPLATE_FIELDS, "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "updated_at"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, ChartTemplate)
        if organization is not None:
            initial.setdefault("organization", organization)
        return initial


class OrganizationMuscleForm(SavedByServiceForm):
    class Meta:
        model = OrganizationMuscle
        fields = ["organization", "name", "region", "pneumothorax_risk"]

    def validate_constraints(self):
        pass  # add_muscle refuses a name already in the vocabulary (the defaults included)

    def call_service(self) -> OrganizationMuscle:
        return services.add_muscle(
            organization=self.cleaned_data["organization"],
            by=self.by,
            name=self.cleaned_data["name"],
            region=self.cleaned_data["region"],
            pneumothorax_risk=self.cleaned_data["pneumothorax_risk"],
        )


@admin.register(OrganizationMuscle)
class OrganizationMuscleAdmin(ServiceAdmin):
    """An organisation's additions to the muscle list: added through the service, then fixed."""

    form = OrganizationMuscleForm
    list_display = ["name", "code", "region", "pneumothorax_risk", "organization", "added_by"]
    list_filter = ["region", "pneumothorax_risk"]
    list_select_related = ["organization", "added_by"]
    search_fields = ["name", "code"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "region", "pneumothorax_risk"]
        fields = ["organization", "name", "code", "region", "pneumothorax_risk"]
        return [*fields, "added_by", "added_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        # A muscle named in charts keeps its meaning: once added it is fixed, for the
        # platform operator too (who alone was offered a form, and it failed).
        return obj is None and super().has_change_permission(request, obj)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, OrganizationMuscle)
        if organization is not None:
            initial.setdefault("organization", organization)
        return initial


@admin.register(Muscle)
class MuscleAdmin(admin.ModelAdmin):
    """The default muscle list: the same for every organisation, changed only with the code.

    Not tenant data, so not registered with clinics.access (whose scoping would
    refuse it): a plain read-only list for anyone with a staff role.
    """

    list_display = ["name", "code", "region", "view", "pneumothorax_risk"]
    list_filter = ["region", "view", "pneumothorax_risk"]
    search_fields = ["name", "code"]
    fields = ["name", "code", "region", "view", "x", "y", "pneumothorax_risk"]

    def may_read(self, request) -> bool:
        user = request.user
        return access.is_platform_operator(user) or access.holds_staff_role(user)

    def has_module_permission(self, request) -> bool:
        return self.may_read(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.may_read(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


from sessions import schedule_admin  # noqa: E402, F401 (registers the calendar's admin pages)
