"""The Django admin for aftercare, scoped by clinics.access like every other page.

Organisation admins publish versions of the aftercare advice and change the
organisation's aftercare settings here, through aftercare.services. Plans,
check-ins and their answers are read here and never changed: an issued plan
and an answer are evidence, and the database refuses changes to them anyway.
An alert is acknowledged or resolved on its page, through the same services
as the Alerts page. Nothing is deleted here. Opening a plan or a check-in's
answers is written in the access log.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import QueryDict
from django.utils import timezone

from aftercare import services
from aftercare.models import (
    AftercarePlan,
    AftercareSettings,
    AftercareTemplate,
    Alert,
    AlertLevel,
    AlertNote,
    CheckIn,
    CheckInAnswer,
    EmailAttempt,
    PlanExercise,
    PlanRead,
)
from aftercare.services.alerts import NOTE_LIMIT
from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import ReadOnlyMixin, SavedByServiceForm, ServiceAdmin
from patients import services as patient_services
from patients.admin.records import LoggedReadsMixin
from patients.admin.versions import organization_to_prefill
from patients.models import ReadVia, RecordPart
from sessions.admin import ChartInline, on_clinic_clock

# --- Reading a patient's aftercare is logged -------------------------------------------------


class AftercareReadsMixin:
    """Opening a plan, or a check-in's answers, writes a read of the patient's record.

    As for charts: a page (or, where it shows the record, its history) is one
    read of that item. The lists show no advice and no answers, so they are
    not logged, like the day's list of bookings.
    """

    read_part: RecordPart
    logs_history = True

    def item_read(self, request, obj):
        """The row of the patient's record the page shows, or None when it shows none."""
        return obj

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            self.log_read(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        if self.logs_history:
            self.log_read(request, response.context_data["object"])
        return response

    def log_read(self, request, obj) -> None:
        item = self.item_read(request, obj)
        if item is not None:
            patient_services.record_read(
                reader=request.user,
                patient=obj.patient,
                part=self.read_part,
                via=ReadVia.ADMIN,
                item=item,
            )


class RowsInline(ChartInline, admin.TabularInline):
    """Rows of a plan or an alert, one line each: read-only, to the roles that may read them.

    ChartInline decides, from the parent row's organisation and clinic, whether the
    user may read rows of this model there.
    """


# --- The organisation's advice and settings ---------------------------------------------------


class AftercareTemplateForm(SavedByServiceForm):
    published = False  # a new version, rather than the same text as the current one
    # A choice rather than a checkbox: a form sent without it is the advice for needling,
    # as in the API, never the other one by an unticked box.
    needling = forms.TypedChoiceField(
        label="Advice for",
        choices=[("True", "Sessions with dry needling"), ("False", "Sessions without needling")],
        coerce=lambda value: value != "False",
        required=False,
        empty_value=True,
        help_text="Each is versioned apart: a session without needling (manual therapy, exercise "
        "or education) is issued the advice for sessions without needling.",
    )

    class Meta:
        model = AftercareTemplate
        fields = ["organization", "needling", "title", "body"]
        help_texts = {
            "body": "Plans issued from now on carry this text; plans already issued keep theirs. "
            "A blank line starts a new block; a line starting with '- ' is a point of a list."
        }

    def validate_constraints(self):
        pass  # the version is numbered by the service, under a lock

    def call_service(self) -> AftercareTemplate:
        organization = self.cleaned_data["organization"]
        needling = self.cleaned_data["needling"]
        current = AftercareTemplate.objects.filter(
            organization=organization, needling=needling
        ).order_by("-version")
        before = current.values_list("pk", flat=True).first()
        saved = services.publish_template(
            organization=organization,
            by=self.by,
            title=self.cleaned_data["title"],
            body=self.cleaned_data["body"],
            needling=needling,
        )
        self.published = saved.pk != before
        return saved


def _needling_asked(request) -> bool:
    """Which advice an add page starts from: without needling when asked (`?needling=0`),
    or when the list it was opened from was filtered to it; else with needling."""
    asked = request.GET.get("needling")
    if asked is None:
        asked = QueryDict(request.GET.get("_changelist_filters", "")).get("needling__exact")
    return asked not in ("0", "false", "False")


@admin.register(AftercareTemplate)
class AftercareTemplateAdmin(ServiceAdmin):
    """The add page publishes a new version, starting from a copy of the current one.

    The advice for sessions with dry needling and the advice for sessions without
    are versioned apart: the add page starts from the one asked for (`?needling=0`,
    or the list filtered to it), else the one for needling. Publishing the same
    title and text again is the same version: nothing new is published. A
    published version never changes.
    """

    form = AftercareTemplateForm
    list_display = ["title", "needling", "version", "organization", "published_at", "published_by"]
    list_filter = ["needling"]
    list_select_related = ["organization", "published_by"]
    search_fields = ["title"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "needling", "title", "body"]
        return [
            "organization",
            "needling",
            "version",
            "title",
            "body",
            "published_at",
            "published_by",
        ]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a published version never changes; publish a new one

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        needling = _needling_asked(request)
        initial["needling"] = needling
        organization = organization_to_prefill(request, AftercareTemplate)
        if organization is not None:
            current = services.current_template(organization, needling=needling)
            initial.update(organization=organization, title=current.title, body=current.body)
        return initial

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # One button: a version is published once, and then only read.
        context.update(show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.published:
            kind = "" if obj.needling else " for sessions without needling"
            message = f"Version {obj.version} of the aftercare advice{kind} is published."
        else:
            message = (
                f"This is the text of version {obj.version}, the current one: "
                "nothing new was published."
            )
        self.message_user(request, message, messages.SUCCESS)

    def response_add(self, request, obj, post_url_continue=None):
        return self.response_post_save_add(request, obj)  # save_model said what happened


class AftercareSettingsForm(SavedByServiceForm):
    class Meta:
        model = AftercareSettings
        fields = ["organization", "check_in_hours", "escalate_after_minutes"]

    def validate_constraints(self):
        pass  # save_settings names the field and the rule

    def call_service(self) -> AftercareSettings:
        return services.save_settings(
            organization=self.cleaned_data.get("organization") or self.instance.organization,
            by=self.by,
            check_in_hours=self.cleaned_data["check_in_hours"],
            escalate_after_minutes=self.cleaned_data["escalate_after_minutes"],
        )


@admin.register(AftercareSettings)
class AftercareSettingsAdmin(ServiceAdmin):
    """One per organisation, saved through the service; an organisation without one uses
    the defaults (24, 48 and 72 hours; escalation after 30 minutes) until an admin adds it."""

    form = AftercareSettingsForm
    list_display = ["organization", "check_in_hours", "escalate_after_minutes"]
    list_select_related = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, AftercareSettings)
        if organization is not None:
            initial.setdefault("organization", organization)
        return initial


# --- Plans ------------------------------------------------------------------------------------


class PlanExerciseInline(RowsInline):
    model = PlanExercise
    related = ("plan",)
    fields = ["name", "sets", "reps", "hold_seconds", "frequency", "notes"]


class PlanReadInline(RowsInline):
    model = PlanRead
    related = ("read_by",)
    verbose_name = verbose_name_plural = "read by the patient"
    fields = ["read_at", "read_by"]


class OnTheClinicsClock:
    """A row's page shows its times as its clinic reads them: each site keeps its own
    timezone, and the lists say "(clinic time)" beside theirs."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        row = self.get_object(request, unquote(object_id))
        if row is None:
            return super().change_view(request, object_id, form_url, extra_context)
        zone = row.clinic.zone
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"Times in {zone.key}, the clinic's time",
        }
        with timezone.override(zone):
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # inside the override: the template reads the clock
        return response


@admin.register(AftercarePlan)
class AftercarePlanAdmin(
    LoggedReadsMixin,
    OnTheClinicsClock,
    AftercareReadsMixin,
    EventHistoryMixin,
    ReadOnlyMixin,
    access.ScopedAdminMixin,
    admin.ModelAdmin,
):
    """Read-only: a draft is written while the session is charted, an issued plan never."""

    read_part = RecordPart.AFTERCARE
    list_part = RecordPart.LIST
    inlines = [PlanExerciseInline, PlanReadInline]
    list_display = ["session_starts", "patient", "clinic", "therapist", "status", "read_by_patient"]
    list_filter = ["status", ("clinic", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["patient", "clinic", "session__therapist", "read"]
    search_fields = ["patient__first_name", "patient__last_name"]
    search_help_text = "Search by the patient's name."
    fieldsets = [
        (None, {"fields": ["session", "patient", "clinic", "status"]}),
        (
            "The therapist's additions",
            {"fields": ["heat_or_ice", "activity_limits", "next_visit", "other_advice"]},
        ),
        (
            "Issued",
            {
                "fields": [
                    "template",
                    "template_version",
                    "title",
                    "advice",
                    "needled_muscles",
                    "issued_at",
                    "issued_by",
                ]
            },
        ),
        ("Last saved", {"fields": ["updated_at", "updated_by"]}),
    ]

    @admin.display(description="session (clinic time)", ordering="session__starts_at")
    def session_starts(self, plan: AftercarePlan) -> str:
        return on_clinic_clock(plan.session.starts_at, plan.clinic)

    @admin.display(description="therapist")
    def therapist(self, plan: AftercarePlan) -> str:
        return str(plan.session.therapist)

    @admin.display(description="read by the patient", boolean=True)
    def read_by_patient(self, plan: AftercarePlan) -> bool | None:
        if not plan.is_issued:
            return None
        return hasattr(plan, "read")


# --- Check-ins ----------------------------------------------------------------------------------


class CheckInAnswerInline(ChartInline, admin.StackedInline):
    model = CheckInAnswer
    related = ("answered_by",)
    verbose_name = verbose_name_plural = "the patient's answers"
    fields = [*CheckInAnswer.ANSWERS, "triage", "triage_reasons", "answered_at", "answered_by"]


class EmailAttemptInline(RowsInline):
    """Each try at e-mailing the check-in or its alert, with the mail server's answer."""

    model = EmailAttempt
    related = ()
    verbose_name, verbose_name_plural = "e-mail", "e-mails (each try, with the server's answer)"
    fields = [
        "purpose",
        "started_at",
        "outcome",
        "recipients",
        "server_reply",
        "note",
        "message_id",
    ]


@admin.register(CheckIn)
class CheckInAdmin(
    LoggedReadsMixin,
    OnTheClinicsClock,
    AftercareReadsMixin,
    EventHistoryMixin,
    ReadOnlyMixin,
    access.ScopedAdminMixin,
    admin.ModelAdmin,
):
    """Read-only: check-ins are scheduled on signing, e-mailed when due, answered once."""

    read_part = RecordPart.CHECK_IN
    list_part = RecordPart.LIST
    logs_history = False  # the e-mails' history, not the answers
    inlines = [CheckInAnswerInline, EmailAttemptInline]
    list_display = ["due", "hours_after", "patient", "clinic", "sent", "answered"]
    list_filter = [("clinic", admin.RelatedOnlyFieldListFilter), "hours_after"]
    list_select_related = ["patient", "clinic", "answer"]
    search_fields = ["patient__first_name", "patient__last_name"]
    search_help_text = "Search by the patient's name."
    ordering = ["-due_at"]
    fieldsets = [
        (None, {"fields": ["session", "patient", "clinic", "hours_after", "due", "closes"]}),
        (
            "The e-mail",
            {"fields": ["sent_at", "send_attempts", "next_attempt_at", "last_send_error"]},
        ),
    ]

    @admin.display(description="due (clinic time)", ordering="due_at")
    def due(self, check_in: CheckIn) -> str:
        return on_clinic_clock(check_in.due_at, check_in.clinic)

    @admin.display(description="e-mailed (clinic time)", ordering="sent_at")
    def sent(self, check_in: CheckIn) -> str:
        return on_clinic_clock(check_in.sent_at, check_in.clinic) if check_in.sent_at else "-"

    @admin.display(description="closes (clinic time)")
    def closes(self, check_in: CheckIn) -> str:
        return on_clinic_clock(check_in.closes_at, check_in.clinic)

    @admin.display(description="answered", boolean=True)
    def answered(self, check_in: CheckIn) -> bool:
        return hasattr(check_in, "answer")

    def item_read(self, request, check_in: CheckIn) -> CheckInAnswer | None:
        # The page shows the answers below the check-in to those who may read them.
        answers = CheckInAnswer.objects.filter(check_in=check_in)
        return access.visible_to(request.user, answers).first()


# --- Alerts ------------------------------------------------------------------------------------


class AlertNoteInline(RowsInline):
    model = AlertNote
    related = ("written_by",)
    fields = ["written_at", "kind", "text", "written_by"]


class OpenFilter(admin.SimpleListFilter):
    title = "open"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(resolved_at__isnull=self.value() == "yes")
        return queryset


ACKNOWLEDGE, RESOLVE = "acknowledge", "resolve"


class AlertForm(SavedByServiceForm):
    """Acknowledging or resolving an alert, through the same services as the Alerts page."""

    decision = forms.ChoiceField(
        label="Do",
        choices=[
            (ACKNOWLEDGE, "Acknowledge: someone is on it (an urgent alert is not escalated)"),
            (RESOLVE, "Resolve: it is dealt with"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional when acknowledging. To resolve, say what was done (for example: "
        "called the patient; symptoms settling; advised rest and heat). Kept with the alert, "
        "never changed.",
    )

    class Meta:
        model = Alert
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.acknowledged_at is not None:
            self.fields["decision"].choices = [
                choice for choice in self.fields["decision"].choices if choice[0] == RESOLVE
            ]
            self.fields["decision"].initial = RESOLVE

    def call_service(self) -> Alert:
        act = {RESOLVE: services.resolve_alert, ACKNOWLEDGE: services.acknowledge_alert}
        return act[self.cleaned_data["decision"]](
            alert=self.instance, by=self.by, note=self.cleaned_data["note"]
        )


@admin.register(Alert)
class AlertAdmin(LoggedReadsMixin, OnTheClinicsClock, ServiceAdmin):
    """Alerts are raised by check-in answers; here they are read, acknowledged and resolved.

    The page of an open alert offers its clinic's clinical staff (clinic
    managers and organisation admins, in the admin) to acknowledge or resolve
    it; the services decide, as on the Alerts page. The answers behind an
    alert are on its check-in's page.
    """

    read_part = RecordPart.CHECK_IN  # the alert's notes and red flags
    list_part = RecordPart.LIST
    form = AlertForm
    inlines = [AlertNoteInline]
    list_display = ["raised", "level", "patient", "clinic", "therapist", "state"]
    list_filter = [OpenFilter, "level", ("clinic", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["patient", "clinic", "therapist"]
    search_fields = ["patient__first_name", "patient__last_name"]
    search_help_text = "Search by the patient's name."
    alert_fields = [
        "patient",
        "clinic",
        "session",
        "therapist",
        "check_in",
        "level",
        "raised_at",
        "escalate_at",
        "escalated_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
    ]
    readonly_fields = alert_fields

    def get_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return [*self.alert_fields, "decision", "note"]
        return self.alert_fields

    def has_add_permission(self, request, *args) -> bool:
        return False  # raised by check-in answers only

    def has_change_permission(self, request, obj=None) -> bool:
        """Only to acknowledge or resolve an open alert, by those the rules let act on it."""
        if obj is not None and not obj.is_open:
            return False
        return super().has_change_permission(request, obj)

    def response_change(self, request, obj):
        if obj.is_open:
            message = f"“{obj}” is acknowledged."
            if obj.level == AlertLevel.URGENT and obj.escalated_at is None:
                message = f"“{obj}” is acknowledged: the escalation clock has stopped."
        else:
            message = f"“{obj}” is resolved."
        self.message_user(request, message, messages.SUCCESS)
        return self.response_post_save_change(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="raised (clinic time)", ordering="raised_at")
    def raised(self, alert: Alert) -> str:
        return on_clinic_clock(alert.raised_at, alert.clinic)

    @admin.display(description="state")
    def state(self, alert: Alert) -> str:
        if alert.resolved_at is not None:
            return "Resolved"
        if alert.acknowledged_at is not None:
            return "Acknowledged"
        return "Escalated, not acknowledged" if alert.escalated_at else "Not acknowledged"
