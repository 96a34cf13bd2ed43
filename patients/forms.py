"""The forms of the patient pages, shared by the clinic's screens and the patient portal.

Forms parse and check what was typed; the rules live in patients.services,
whose errors `show_error` puts back on the form, beside the field they name.
"""

import datetime
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from clinics.exceptions import FasciaError
from clinics.models import Clinic
from patients import imports
from patients.models import Patient
from patients.models.records import EARLIEST_BIRTH_DATE, ActivityLevel, PainArea
from patients.services import PATIENT_FIELDS
from patients.services.intake import INTAKE_FIELDS


def show_error(form: forms.BaseForm, error: FasciaError | ValidationError) -> None:
    """Put a service's refusal on the form: on the field it names, else above the form."""
    if isinstance(error, FasciaError):
        form.add_error(_visible_field(form, error.field), error.message)
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        form.add_error(_visible_field(form, name), messages)


def _visible_field(form: forms.BaseForm, name: str | None) -> str | None:
    # An error on a hidden field (the version, the questionnaire) is shown above the form.
    field = form.fields.get(name or "")
    return name if field is not None and not field.widget.is_hidden else None


class DateInput(forms.DateInput):
    """The browser's date picker, which sends and shows ISO dates."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class PlainLabels:
    """Labels without Django's trailing colon: many are questions, and "?:" reads badly."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def submission_key_field() -> forms.UUIDField:
    """A key made when the form is first shown: the same form sent twice is one record."""
    return forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


# --- Patient details ----------------------------------------------------------


class PatientForm(PlainLabels, forms.ModelForm):
    """A patient's details, for registering and editing."""

    class Meta:
        model = Patient
        fields = ["home_clinic", *PATIENT_FIELDS]
        labels = {
            "date_of_birth": "Date of birth",
            "email": "E-mail",
            "emergency_contact_name": "Emergency contact",
            "emergency_contact_relationship": "Their relationship to the patient",
            "emergency_contact_phone": "Their phone",
        }
        help_texts = {
            "email": "Portal invitations and aftercare advice are sent here.",
            "phone": "Digits, optionally starting with +.",
        }
        widgets = {
            "date_of_birth": DateInput(attrs={"min": EARLIEST_BIRTH_DATE.isoformat()}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel"}),
            "address": forms.Textarea(attrs={"rows": 3}),
            "emergency_contact_phone": forms.TextInput(attrs={"type": "tel"}),
        }

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["home_clinic"].queryset = clinics
        self.fields["home_clinic"].empty_label = None
        # The browser's limit is the latest "today" anywhere (UTC+14); the
        # service checks the date in the clinic's own timezone.
        latest_today = (timezone.now() + datetime.timedelta(hours=14)).date()
        self.fields["date_of_birth"].widget.attrs["max"] = latest_today.isoformat()

    def details(self) -> dict:
        """The cleaned details, as the services take them."""
        return {name: self.cleaned_data[name] for name in ["home_clinic", *PATIENT_FIELDS]}


def different_person_field() -> forms.BooleanField:
    return forms.BooleanField(
        required=False,
        label="This is a different person",
        help_text="Tick only after checking the records above: alike (name and date of birth, "
        "phone or e-mail), but not the same patient.",
    )


class RegisterPatientForm(PatientForm):
    submission_key = submission_key_field()
    different_person = different_person_field()


class EditPatientForm(PatientForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    different_person = different_person_field()

    def __init__(self, *args, instance: Patient, clinics, **kwargs):
        # A patient's home clinic stays choosable even where the user may not register.
        clinics = Clinic.objects.filter(
            Q(pk__in=clinics.values("pk")) | Q(pk=instance.home_clinic_id)
        ).select_related("organization")
        kwargs.setdefault("initial", {})["version"] = instance.version
        super().__init__(*args, instance=instance, clinics=clinics, **kwargs)


# --- Intake -------------------------------------------------------------------


class LinesField(forms.Field):
    """A list typed one item a line."""

    widget = forms.Textarea(attrs={"rows": 3})
    line_length = 200

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            return list(value)
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        for number, line in enumerate(value, start=1):
            if len(line) > self.line_length:
                raise ValidationError(
                    f"Line {number} is longer than {self.line_length} characters: "
                    "shorten it or split it over two lines."
                )


class IntakeForm(PlainLabels, forms.Form):
    presenting_complaint = forms.CharField(
        label="What brings you in?",
        help_text="Where it hurts, since when, and what makes it better or worse.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    pain_areas = forms.MultipleChoiceField(
        label="Where do you have pain?",
        choices=PainArea.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    conditions = LinesField(
        label="Medical conditions",
        help_text="One a line, for example diabetes or high blood pressure.",
        required=False,
    )
    medications = LinesField(
        label="Medications", help_text="One a line, with the dose if you know it.", required=False
    )
    allergies = LinesField(label="Allergies", help_text="One a line.", required=False)
    activity_level = forms.ChoiceField(
        label="How active are you?", choices=ActivityLevel.choices, widget=forms.RadioSelect
    )
    goals = forms.CharField(
        label="What would you like treatment to help you do?",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def fields_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in INTAKE_FIELDS}


class SurgeryForm(PlainLabels, forms.Form):
    description = forms.CharField(label="Operation", max_length=200, required=False)
    performed_on = forms.DateField(label="Date", widget=DateInput, required=False)

    def clean(self):
        cleaned = super().clean()
        description, performed_on = cleaned.get("description"), cleaned.get("performed_on")
        if description and not performed_on and "performed_on" not in self.errors:
            self.add_error("performed_on", "Give the date of this operation (roughly is fine).")
        if performed_on and not description:
            self.add_error("description", "Say what the operation was.")
        return cleaned


class BaseSurgeryFormSet(forms.BaseFormSet):
    def surgeries(self) -> list[tuple[str, datetime.date]]:
        """The filled rows; empty ones are left for the next operation."""
        return [
            (form.cleaned_data["description"], form.cleaned_data["performed_on"])
            for form in self.forms
            if form.cleaned_data.get("description")
        ]


# Two empty rows below the operations already recorded, for the next ones.
SurgeryFormSet = forms.formset_factory(SurgeryForm, formset=BaseSurgeryFormSet, extra=2)


# --- Screening ----------------------------------------------------------------


class ScreeningForm(PlainLabels, forms.Form):
    """The yes/no questions of one questionnaire version; none answered in advance."""

    questionnaire = forms.UUIDField(widget=forms.HiddenInput)
    submission_key = submission_key_field()

    def __init__(self, *args, questionnaire, **kwargs):
        kwargs.setdefault("initial", {})["questionnaire"] = questionnaire.pk
        super().__init__(*args, **kwargs)
        self.questionnaire = questionnaire
        self.questions = list(questionnaire.questions.all())
        for question in self.questions:
            self.fields[f"answer_{question.pk}"] = forms.TypedChoiceField(
                label=question.text,
                help_text=question.help_text,
                choices=[("yes", "Yes"), ("no", "No")],
                coerce=lambda answer: answer == "yes",
                widget=forms.RadioSelect,
                error_messages={"required": "Answer yes or no."},
            )
            self.fields[f"detail_{question.pk}"] = forms.CharField(
                label="Details (optional)",
                max_length=500,
                required=False,
                # Every question has a details box: a screen reader names which one.
                widget=forms.TextInput(attrs={"aria-label": f"Details: {question.text}"}),
            )

    def rows(self):
        """Each question's answer and detail fields, for the template."""
        for question in self.questions:
            yield self[f"answer_{question.pk}"], self[f"detail_{question.pk}"]

    def answers(self) -> dict:
        return {
            question: (
                self.cleaned_data[f"answer_{question.pk}"],
                self.cleaned_data[f"detail_{question.pk}"],
            )
            for question in self.questions
        }


# --- Consent ------------------------------------------------------------------


class ConsentForm(PlainLabels, forms.Form):
    template = forms.UUIDField(widget=forms.HiddenInput)
    submission_key = submission_key_field()
    signer_name = forms.CharField(
        label="Full name of the person signing",
        max_length=200,
        help_text="Typing your name here is your signature.",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    guardian_relationship = forms.CharField(
        label="Relationship to the patient",
        max_length=100,
        required=False,
        help_text="Only when a parent or guardian signs for the patient.",
    )

    def __init__(self, *args, template, patient: Patient, age: int, age_of_consent: int, **kwargs):
        kwargs.setdefault("initial", {})["template"] = template.pk
        super().__init__(*args, **kwargs)
        self.template = template
        self.age = age
        self.minor = age < age_of_consent
        if self.minor:
            relationship = self.fields["guardian_relationship"]
            relationship.required = True
            relationship.label = "Your relationship to the patient"
            relationship.help_text = "For example mother, father or legal guardian."
            relationship.error_messages["required"] = (
                f"{patient.first_name} is under {age_of_consent}: say how you are related."
            )
            self.fields["signer_name"].label = "Your full name (parent or guardian)"
            self.fields[
                "signer_name"
            ].help_text = (
                f"Your own name, not {patient.first_name}'s. Typing it here is your signature."
            )


class WithdrawConsentForm(PlainLabels, forms.Form):
    reason = forms.CharField(
        label="Reason (optional)", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class HealthChangeForm(PlainLabels, forms.Form):
    note = forms.CharField(
        label="What changed?",
        help_text="For example a new diagnosis, new medication, surgery or a pregnancy.",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )


# --- Portal invitation --------------------------------------------------------


class ChoosePasswordForm(PlainLabels, forms.Form):
    full_name = forms.CharField(
        label="Your name",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label="Choose a password",
        help_text="At least 10 characters; not a common password, nor only digits.",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="The same password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        password, again = cleaned.get("password"), cleaned.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", "The two passwords differ: type the same one twice.")
        return cleaned


# --- Importing patients from another system -------------------------------------


class ImportUploadForm(PlainLabels, forms.Form):
    """A file of patients from another practice system, for the import page."""

    file = forms.FileField(
        label="CSV file",
        help_text="Exported from the other system: one patient a row, the first row naming "
        "the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    source_system = forms.CharField(
        label="The system it comes from",
        max_length=60,
        help_text="Cliniko, Jane, WebPT...: the patients' ids are kept with its name, so "
        "importing the same file again adds nothing.",
    )
    clinic = forms.ModelChoiceField(
        label="Register the patients at",
        queryset=Clinic.objects.none(),
        empty_label=None,
    )

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        self.fields["clinic"].label_from_instance = lambda clinic: (
            f"{clinic.name} ({clinic.organization.name})"
        )


class ImportColumnsForm(PlainLabels, forms.Form):
    """Which column of the file holds each of a patient's fields, and how dates are written."""

    date_format = forms.ChoiceField(
        label="Dates in the file are written",
        choices=[(key, shown) for key, (shown, _) in imports.DATE_FORMATS.items()],
        help_text="01/02/1980 is the 1st of February day first, the 2nd of January month "
        "first; YYYY-MM-DD is always read.",
    )

    def __init__(self, *args, columns, headers, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        choices = [("", "Not in this file")] + [(header, header) for header in headers]
        for column in columns:
            self.fields[column.field] = forms.ChoiceField(
                label=column.label + ("" if column.required else " (optional)"),
                choices=choices,
                required=column.required,
                error_messages={"required": f"{column.label}: choose the column that holds it."},
            )

    @property
    def column_fields(self):
        return [self[column.field] for column in self.columns]

    def mapping(self) -> dict[str, str]:
        return {column.field: self.cleaned_data[column.field] for column in self.columns}


class ImportStartForm(PlainLabels, forms.Form):
    attempt = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    """The dry run the page showed: an import of another one (checked again in another tab
    since) is refused."""
    include_duplicates = forms.BooleanField(
        label="Import the likely duplicates too (each becomes a patient of its own)",
        required=False,
    )
