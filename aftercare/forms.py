"""The forms of the aftercare pages. They parse; the services decide."""

from django import forms

from aftercare import questions
from aftercare.models import AftercarePlan, Bruising, Fatigue, HeatOrIce, Trend
from aftercare.models.check_ins import COMMENTS_LIMIT
from clinics.exceptions import FasciaError
from patients.forms import PlainLabels, show_error, submission_key_field


def show_refusal(form: forms.BaseForm, error: FasciaError) -> None:
    """A service's refusal on the form: under the field it names, without the field's name
    the message starts with for the API ("sets: at most 20" reads "At most 20" there)."""
    field = form.fields.get(error.field or "")
    if (
        field is not None
        and not field.widget.is_hidden
        and error.message.startswith(f"{error.field}: ")
    ):
        form.add_error(error.field, as_on_the_form(error.message, error.field))
        return
    show_error(form, error)


def as_on_the_form(message: str, field: str) -> str:
    """A service's message under its field, without the field's name it starts with."""
    rest = message.removeprefix(f"{field}: ")
    return rest[:1].upper() + rest[1:]


def show_problems(form: forms.BaseForm, problems: dict[str, str]) -> None:
    """The answers a service found missing or not valid, each under its field, unless the
    form already says what is wrong there."""
    for field, message in problems.items():
        if field in form.fields and field not in form.errors:
            show_refusal(form, FasciaError(message, field=field))


def anchor(field: forms.BoundField) -> str:
    """The id a link to `field` goes to: its first radio button, or the field itself."""
    if isinstance(field.field.widget, forms.RadioSelect):
        return f"{field.auto_id}_0"
    return field.id_for_label


YES_NO = [("no", "No"), ("yes", "Yes")]

SCORES = [(str(n), str(n)) for n in range(11)]


class YesNoField(forms.TypedChoiceField):
    """A required yes/no question as two radio buttons: no default, so nothing is assumed."""

    def __init__(self, label: str, help_text: str = ""):
        super().__init__(
            label=label,
            help_text=help_text,
            choices=YES_NO,
            coerce=lambda value: value == "yes",
            widget=forms.RadioSelect,
            error_messages={"required": "Answer yes or no."},
        )


class ScoreField(forms.TypedChoiceField):
    def __init__(self, label: str, help_text: str):
        super().__init__(
            label=label,
            help_text=help_text,
            choices=SCORES,
            coerce=int,
            widget=forms.RadioSelect(attrs={"class": "score"}),
            error_messages={"required": "Choose a number from 0 to 10."},
        )


class CheckInForm(PlainLabels, forms.Form):
    """The patient's check-in. The red-flag questions come first: they matter most.

    Its questions and their words are aftercare.questions': after a session without
    needling, none about where needles went in."""

    chest_pain = YesNoField(questions.WORDING["chest_pain"])
    short_of_breath = YesNoField(questions.WORDING["short_of_breath"])
    infection_signs = YesNoField(questions.WORDING["infection_signs"])
    nerve_symptoms = YesNoField(questions.WORDING["nerve_symptoms"])
    soreness = ScoreField(
        questions.WORDING["soreness"], "0 is not sore at all, 10 is the worst soreness."
    )
    pain = ScoreField(
        questions.WORDING["pain"],
        "On the same scale as before your session: 0 is no pain, 10 the worst imaginable.",
    )
    trend = forms.ChoiceField(
        label=questions.WORDING["trend"],
        choices=Trend.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose better, about the same, or worse."},
    )
    bruising = forms.ChoiceField(
        label=questions.WORDING["bruising"],
        choices=Bruising.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose one."},
    )
    fatigue = forms.ChoiceField(
        label=questions.WORDING["fatigue"],
        choices=Fatigue.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose one."},
    )
    # No maxlength on the box: a browser would cut a longer text without a word. The
    # service refuses it instead, naming the limit, and the text stays on the form.
    comments = forms.CharField(
        label=questions.WORDING["comments"],
        required=False,
        help_text=f"Up to {COMMENTS_LIMIT:,} characters.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    submission_key = submission_key_field()

    WARNING_SIGNS = ("chest_pain", "short_of_breath", "infection_signs", "nerve_symptoms")
    REST = ("soreness", "pain", "trend", "bruising", "fatigue", "comments")

    def __init__(self, *args, reported: list[str] | tuple = (), needling: bool = True, **kwargs):
        """`reported`: the red flags the patient reported already. They are not asked
        again: they stay on the check-in whatever comes next. `needling`: the session's;
        without it, the questions of a session without needling."""
        super().__init__(*args, **kwargs)
        for question in reported:
            del self.fields[question]
        self.reported = list(reported)
        asked = questions.names(needling=needling)
        for name in [*self.WARNING_SIGNS, *self.REST]:
            if name not in asked:
                del self.fields[name]
            elif name in self.fields:
                self.fields[name].label = questions.wording(name, needling=needling)

    def warning_signs(self) -> list[forms.BoundField]:
        return [self[name] for name in self.WARNING_SIGNS if name in self.fields]

    def after_the_scores(self) -> list[forms.BoundField]:
        """The questions asked after soreness and pain, as this check-in asks them."""
        return [self[name] for name in self.REST[2:] if name in self.fields]

    def error_summary(self) -> list[tuple[str, str]]:
        """(link target, the question and what is wrong) for each error, in the form's
        order: the list at the top of the form (GOV.UK's error summary)."""
        summary = []
        for name, field in self.fields.items():
            if name in self.errors and not field.widget.is_hidden:
                bound = self[name]
                summary += [
                    (anchor(bound), asked(bound.label, error)) for error in self.errors[name]
                ]
        return summary


def asked(question: str, said: str) -> str:
    """A question and what is said of it, read as one: "Do you feel tired? Choose one."."""
    return f"{question} {said}" if question.endswith("?") else f"{question}: {said}"


class AcknowledgeForm(PlainLabels, forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: calling the patient now.",
    )


class ResolveForm(PlainLabels, forms.Form):
    note = forms.CharField(
        label="What was done",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: called the patient; symptoms settling; advised rest and heat.",
        error_messages={"required": "Say what was done before resolving the alert."},
    )


class PlanForm(PlainLabels, forms.ModelForm):
    """The therapist's additions to the advice, written while the session is charted."""

    class Meta:
        model = AftercarePlan
        fields = ["heat_or_ice", "activity_limits", "next_visit", "other_advice"]
        labels = {
            "heat_or_ice": "Heat or ice",
            "activity_limits": "Activity limits",
            "next_visit": "Next visit",
            "other_advice": "Other advice for the patient",
        }
        widgets = {
            "heat_or_ice": forms.Select(choices=HeatOrIce.choices),
            "activity_limits": forms.Textarea(attrs={"rows": 2}),
            "other_advice": forms.Textarea(attrs={"rows": 2}),
        }


def amount(label: str, most: int, unit: str) -> forms.IntegerField:
    """An optional whole number from 1 to `most`, refused in the clinic's words."""
    words = {
        "invalid": f"Give a whole number of {unit}, or leave it empty.",
        "min_value": f"At least 1 {unit[:-1]}, or leave it empty.",
        "max_value": f"At most {most} {unit}.",
    }
    return forms.IntegerField(
        label=label, required=False, min_value=1, max_value=most, error_messages=words
    )


class ExerciseForm(PlainLabels, forms.Form):
    name = forms.CharField(
        label="Stretch or exercise",
        max_length=200,
        error_messages={"required": "Name the stretch or exercise."},
    )
    sets = amount("Sets", 20, "sets")
    reps = amount("Repetitions", 100, "repetitions")
    hold_seconds = amount("Hold (seconds)", 600, "seconds")
    frequency = forms.CharField(
        label="How often",
        max_length=100,
        help_text="For example: twice a day.",
        error_messages={"required": "Say how often: for example, twice a day."},
    )
    notes = forms.CharField(
        label="Notes", required=False, max_length=2000, widget=forms.TextInput()
    )
    submission_key = submission_key_field()
