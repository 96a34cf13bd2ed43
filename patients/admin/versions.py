"""What an organisation admin publishes: the clinical policy, consent texts, questionnaires.

A published version never changes; the add page publishes a new one, starting
from a copy of the current version.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import SavedByServiceForm, ServiceAdmin, adopt
from clinics.exceptions import FasciaError
from patients import services
from patients.contraindications import Contraindication
from patients.models import ClinicalPolicy, ConsentTemplate, Question, Questionnaire


def organization_to_prefill(request, model):
    """The organisation whose current version prefills an add page: asked for, or the only one."""
    organizations = access.organizations_for(request.user, model, "add")
    asked = request.GET.get("organization")
    if asked:
        try:
            return organizations.filter(pk=asked).first()
        except ValidationError:  # not a UUID
            return None
    return organizations.first() if organizations.count() == 1 else None


class ClinicalPolicyForm(SavedByServiceForm):
    class Meta:
        model = ClinicalPolicy
        fields = ["organization", "screening_valid_days", "outdated_consent_counts"]

    def call_service(self) -> ClinicalPolicy:
        return services.save_policy(
            organization=self.cleaned_data.get("organization") or self.instance.organization,
            by=self.by,
            screening_valid_days=self.cleaned_data["screening_valid_days"],
            outdated_consent_counts=self.cleaned_data["outdated_consent_counts"],
        )


@admin.register(ClinicalPolicy)
class ClinicalPolicyAdmin(ServiceAdmin):
    form = ClinicalPolicyForm
    list_display = ["organization", "screening_valid_days", "outdated_consent_counts"]
    list_select_related = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []


class ConsentTemplateForm(SavedByServiceForm):
    class Meta:
        model = ConsentTemplate
        fields = ["organization", "title", "body"]
        help_texts = {
            "body": "Patients sign exactly this text. Publishing makes it the current version; "
            "patients who signed an older one are asked to sign again."
        }

    def call_service(self) -> ConsentTemplate:
        return services.publish_consent_template(
            organization=self.cleaned_data["organization"],
            by=self.by,
            title=self.cleaned_data["title"],
            body=self.cleaned_data["body"],
        )


@admin.register(ConsentTemplate)
class ConsentTemplateAdmin(ServiceAdmin):
    """The add page publishes a new version, starting from a copy of the current one."""

    form = ConsentTemplateForm
    list_display = ["title", "version", "organization", "published_at", "published_by"]
    list_select_related = ["organization", "published_by"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "title", "body"]
        return ["organization", "version", "title", "body", "published_at", "published_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a published version never changes; publish a new one

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, ConsentTemplate)
        if organization is not None:
            current = services.current_consent_template(organization)
            initial.update(organization=organization, title=current.title, body=current.body)
        return initial


QUESTION_FIELDS = ["key", "text", "help_text", "contraindication"]


class QuestionForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = QUESTION_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "contraindication" in self.fields:
            # Age is worked out from the date of birth, never asked.
            self.fields["contraindication"].choices = [
                choice
                for choice in self.fields["contraindication"].choices
                if choice[0] != Contraindication.UNDER_12
            ]

    def has_changed(self) -> bool:
        # A question copied from the current version belongs to the new one even when
        # left as it was; a row left blank does not.
        return any(self[name].data for name in QUESTION_FIELDS if name in self.fields)


class QuestionFormSet(forms.BaseInlineFormSet):
    """On the add page, the questions of the new version: validating them publishes it."""

    by = None  # the acting user, set by QuestionInline.get_formset

    def clean(self):
        super().clean()
        questionnaire = self.instance
        if not getattr(questionnaire, "ready_to_publish", False) or any(self.errors):
            return
        questions = [
            {name: form.cleaned_data[name] for name in QUESTION_FIELDS}
            for form in self.forms
            if form.has_changed()
        ]
        try:
            published = services.publish_questionnaire(
                organization=questionnaire.organization,
                by=self.by,
                title=questionnaire.title,
                questions=questions,
            )
        except FasciaError as refusal:
            raise ValidationError(refusal.message) from None
        except ValidationError as refusal:
            raise ValidationError(refusal.messages) from None
        adopt(questionnaire, published)


class QuestionInline(access.ScopedAdminMixin, admin.TabularInline):
    model = Question
    form = QuestionForm
    formset = QuestionFormSet
    fields = QUESTION_FIELDS

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"by": request.user})

    def get_extra(self, request, obj=None, **kwargs) -> int:
        if obj is not None:
            return 0
        organization = organization_to_prefill(request, Questionnaire)
        copied = current_questions(organization) if organization is not None else []
        return len(copied) + 1

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is None and access.may_use(request.user, Questionnaire, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def current_questions(organization) -> list[dict]:
    questionnaire = services.current_questionnaire(organization)
    return list(questionnaire.questions.order_by("position").values(*QUESTION_FIELDS))


@admin.register(Questionnaire)
class QuestionnaireAdmin(EventHistoryMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    """Published versions are read-only; the add page publishes a new one.

    The add page starts from a copy of the current version's questions: change
    them, remove rows (the cross at the end of a row), add rows, then save to
    publish. The questions keep the order of the rows.
    """

    inlines = [QuestionInline]
    list_display = ["title", "version", "organization", "questions", "published_at"]
    list_select_related = ["organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(question_count=Count("questions"))

    @admin.display(description="questions", ordering="question_count")
    def questions(self, questionnaire: Questionnaire) -> int:
        return questionnaire.question_count

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "title"]
        return ["organization", "version", "title", "published_at", "published_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a published version never changes; publish a new one

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = organization_to_prefill(request, Questionnaire)
        if organization is not None:
            current = services.current_questionnaire(organization)
            initial.update(organization=organization, title=current.title)
        return initial

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if request.method == "POST" or not obj._state.adding:
            return kwargs  # what was posted, or the version's own questions
        organization = organization_to_prefill(request, Questionnaire)
        if organization is not None:
            kwargs["initial"] = current_questions(organization)
        return kwargs

    def save_form(self, request, form, change):
        questionnaire = super().save_form(request, form, change)
        # The title and organisation are valid: the questions' formset, validated
        # next, publishes the version (its refusals are shown on the form).
        questionnaire.ready_to_publish = True
        return questionnaire

    def save_model(self, request, obj, form, change):
        pass  # published by QuestionFormSet.clean, through the service

    def save_related(self, request, form, formsets, change):
        # The service saved the questions with the version; the admin's log lists them.
        for formset in formsets:
            formset.new_objects = list(form.instance.questions.all())
            formset.changed_objects, formset.deleted_objects = [], []
