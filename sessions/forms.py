"""The forms of the session pages. They parse what was typed; the services hold the rules.

The numbers' limits appear here only as the browser's hints (min, max, step).
"""

import datetime
import uuid

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from patients.forms import DateInput
from sessions.models import (
    AdverseEventKind,
    Joint,
    MeasuredSide,
    Movement,
    Severity,
    Side,
    Technique,
    TwitchResponse,
)

CLOCK_FORMAT = "%Y-%m-%dT%H:%M"
"""How a datetime-local input sends and shows a time."""


def _number(low, high, step=1, **attrs) -> forms.NumberInput:
    return forms.NumberInput(attrs={"min": low, "max": high, "step": step, **attrs})


class SubmissionKeyField(forms.UUIDField):
    """A key made when the form is shown: the same form sent twice saves once."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(initial=uuid.uuid4, required=False, **kwargs)


class ClinicClockField(forms.DateTimeField):
    """A date and time typed on the clinic's clock (`zone`), to the minute.

    Shown on that clock; read back as the wall time typed (naive), which the
    service places on the session's clinic's clock.
    """

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=CLOCK_FORMAT)

    def __init__(self, *, zone=None, **kwargs):
        super().__init__(**kwargs)
        self.zone = zone

    def prepare_value(self, value):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value) and self.zone:
            return timezone.localtime(value, self.zone).replace(tzinfo=None)
        return value

    def to_python(self, value):
        """The time typed, naive (on the clinic's clock), or aware when sent with an offset."""
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            return value
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class ChartForm(forms.Form):
    """The chart's notes and counts; `version` is the one the page was opened at.

    `zone` is the clinic's: the needling's end is typed and shown on its clock. Without
    `needling` (a session without needling) it has no needle counts and no needling end:
    the page shows none, so none is asked.
    """

    version = forms.IntegerField(widget=forms.HiddenInput)
    complaint = forms.CharField(
        label="Presenting complaint", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    pain_before = forms.IntegerField(
        label="Pain before (0 to 10)", required=False, widget=_number(0, 10)
    )
    subjective_notes = forms.CharField(
        label="Subjective notes", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    findings = forms.CharField(
        label="Objective findings", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    assessment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    pain_after = forms.IntegerField(
        label="Pain after (0 to 10)", required=False, widget=_number(0, 10)
    )
    needles_inserted = forms.IntegerField(label="Needles inserted", widget=_number(0, 500))
    needles_removed = forms.IntegerField(label="Needles removed", widget=_number(0, 500))
    needling_ended_at = ClinicClockField(
        label="Needling ended at",
        required=False,
        help_text="When the last needle came out, on the clinic's clock. The check-ins count "
        "from it; left empty, they count from when you sign.",
    )

    NEEDLING_FIELDS = ("needles_inserted", "needles_removed", "needling_ended_at")

    def __init__(self, *args, zone=None, needling: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["needling_ended_at"].zone = zone
        if not needling:
            for name in self.NEEDLING_FIELDS:
                del self.fields[name]
        for field in self.fields.values():
            # The fields sit in the chart's sections, between the forms of its rows.
            field.widget.attrs["form"] = "chart-form"
            # Text typed with spaces at its ends is saved as typed: autosave mid-sentence.
            if isinstance(field, forms.CharField):
                field.strip = False

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("version")
        return data


class TemplateForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    template = forms.ChoiceField(label="Chart template")

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(str(t.pk), t.name) for t in templates]


class RowForm(forms.Form):
    """A form that adds one row of a chart; its key makes a double click one row."""

    key = SubmissionKeyField()

    def row(self) -> dict:
        data = dict(self.cleaned_data)
        data["submission_key"] = data.pop("key")
        return data


class NeedleSiteForm(RowForm):
    muscle = forms.ChoiceField()
    side = forms.ChoiceField(choices=Side.choices, widget=forms.RadioSelect)
    needles = forms.IntegerField(label="Needles used", initial=1, widget=_number(1, 50))
    needle_length_mm = forms.IntegerField(
        label="Needle length (mm)", initial=40, widget=_number(7, 150)
    )
    needle_gauge_mm = forms.DecimalField(
        label="Gauge (diameter, mm)", initial="0.30", widget=_number("0.12", "0.50", "0.01")
    )
    depth_mm = forms.DecimalField(label="Depth (mm)", widget=_number("0.5", 150, "0.5"))
    technique = forms.ChoiceField(choices=Technique.choices)
    twitch_response = forms.ChoiceField(
        label="Local twitch response", choices=TwitchResponse.choices, widget=forms.RadioSelect
    )
    retention_minutes = forms.IntegerField(
        label="Retention (minutes)", initial=0, widget=_number(0, 60)
    )
    lot_number = forms.CharField(label="Needle lot number", max_length=40)
    risk_acknowledged = forms.BooleanField(
        required=False,
        label="I have considered the pneumothorax risk of this site (higher in slender "
        "patients) and needle accordingly.",
    )

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["muscle"].choices = [("", "Choose a muscle")] + [
            (region.label, [(muscle.code, muscle.name) for muscle in region.muscles])
            for region in regions
            if region.muscles
        ]
        self.risky = {
            muscle.code
            for region in regions
            for muscle in region.muscles
            if muscle.pneumothorax_risk
        }


class RangeOfMotionForm(RowForm):
    joint = forms.ChoiceField(choices=Joint.choices)
    movement = forms.ChoiceField(choices=Movement.choices)
    side = forms.ChoiceField(choices=MeasuredSide.choices)
    degrees = forms.IntegerField(widget=_number(0, 360))


class PressurePainThresholdForm(RowForm):
    site = forms.CharField(max_length=100)
    side = forms.ChoiceField(choices=MeasuredSide.choices)
    kg_per_cm2 = forms.DecimalField(label="Threshold (kg/cm²)", widget=_number("0.1", 20, "0.1"))


class AdverseEventForm(RowForm):
    kind = forms.ChoiceField(label="Type", choices=AdverseEventKind.choices)
    severity = forms.ChoiceField(choices=Severity.choices, widget=forms.RadioSelect)
    action_taken = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}))
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SignForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class AddendumForm(forms.Form):
    key = SubmissionKeyField()
    text = forms.CharField(label="Addendum", widget=forms.Textarea(attrs={"rows": 3}))


class StartForm(forms.Form):
    override_reason = forms.CharField(
        label="Your reason to proceed",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed when the patient has a relative contraindication; kept in the chart.",
    )


class MoveForm(forms.Form):
    """Another day, time or therapist for a booked session; its length stays."""

    day = forms.DateField(label="Date", widget=DateInput)
    time = forms.TimeField(
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time", "step": 300})
    )
    therapist = forms.ChoiceField()
    outside_hours_reason = forms.CharField(
        label="Reason to book outside working hours", required=False, max_length=500
    )

    def __init__(self, *args, therapists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].choices = [(str(t.pk), t.get_full_name()) for t in therapists]

    def starts_at(self, zone) -> datetime.datetime:
        return datetime.datetime.combine(
            self.cleaned_data["day"], self.cleaned_data["time"], tzinfo=zone
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReviewForm(forms.Form):
    note = forms.CharField(
        label="Review",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you found and decided.",
    )


class BookForm(forms.Form):
    key = SubmissionKeyField()
    patient = forms.UUIDField(widget=forms.HiddenInput)
    therapist = forms.ChoiceField()
    day = forms.DateField(label="Date", widget=DateInput)
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 300}))
    length_minutes = forms.IntegerField(
        label="Length (minutes)", initial=30, widget=_number(5, 240, 5)
    )
    needling = forms.BooleanField(
        label="Includes dry needling",
        required=False,
        initial=True,
        help_text="Untick for manual therapy, exercise or education only: no screening or "
        "needling consent is needed, and a child can be booked.",
    )
    appointment_type = forms.ChoiceField(
        required=False,
        help_text="A type gives the length and whether it includes needling (the two fields "
        "above are then not read).",
    )
    weeks = forms.IntegerField(
        label="Every week for",
        required=False,
        initial=1,
        min_value=1,
        max_value=52,
        widget=_number(1, 52, 1),
        help_text="Weeks, this one included: 1 books this session only. Every week is booked "
        "or none: the weeks that cannot be are listed.",
    )
    outside_hours_reason = forms.CharField(
        label="Reason to book outside working hours",
        required=False,
        max_length=500,
        help_text="Only when the therapist does not work at that time: say why it is booked "
        "all the same.",
    )

    def __init__(self, *args, therapists=(), appointment_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["appointment_type"].choices = [("", "No type: the length above")] + [
            (str(t.pk), f"{t.name} ({t.minutes} min{', needling' if t.needling else ''})")
            for t in appointment_types
        ]
        self.fields["therapist"].choices = [("", "Choose a therapist")] + [
            (str(t.pk), t.get_full_name()) for t in therapists
        ]

    def starts_at(self, zone) -> datetime.datetime:
        return datetime.datetime.combine(
            self.cleaned_data["day"], self.cleaned_data["time"], tzinfo=zone
        )


class OnlineTimeForm(forms.Form):
    """A free time the patient chose in the portal (the Book or Move button sends it back)."""

    key = SubmissionKeyField()
    appointment_type = forms.UUIDField(required=False, widget=forms.HiddenInput)
    clinic = forms.UUIDField(required=False, widget=forms.HiddenInput)
    therapist = forms.UUIDField(widget=forms.HiddenInput)
    starts_at = forms.DateTimeField(widget=forms.HiddenInput)
    """With its UTC offset, as the list of free times wrote it."""


class OnlineCancelForm(forms.Form):
    reason = forms.CharField(
        label="Why you cancel (optional)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The clinic reads it with the cancellation.",
    )


class CalendarFeedForm(forms.Form):
    """A new calendar feed: what it is for, and (for someone who treats in two
    organisations) whose bookings."""

    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="Where you will use it, e.g. “Phone”: to tell your feeds apart.",
    )
    organization = forms.TypedChoiceField(
        label="Bookings at", coerce=uuid.UUID, widget=forms.HiddenInput
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.choices = [(str(org.pk), org.name) for org in organizations]
        if len(organizations) > 1:
            field.widget = forms.Select(choices=field.choices)
        elif organizations:
            field.initial = str(organizations[0].pk)
