"""What a calendar is made of: the kinds of appointment, and when each therapist works.

- An appointment type (per organisation) gives a booking its length, whether it
  includes needling, and its colour in the calendar.
- Working hours: the weekly hours of a therapist at a clinic, as rows of one
  weekday each; a break is the gap between two rows of one day ("08:00-12:30"
  and "13:00-17:00").
- A schedule change: a one-off exception on the clinic's clock. A therapist away
  (holiday, sick day, course), a therapist working extra hours, or, with no
  therapist, the whole clinic closed (a public holiday, a burst pipe).

Working hours are local times on the clinic's clock, so 08:00 stays 08:00 when
the clocks change; schedule changes are moments, stored in UTC like bookings.
"""

import uuid

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Lower

from clinics.models import Clinic, Organization

colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Give the colour as # and six hexadecimal digits, such as #2f6f8f."
)

SHORTEST_MINUTES, LONGEST_MINUTES = 5, 240
"""An appointment lasts 5 minutes to 4 hours, as a booking does (sessions.services.booking)."""


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AppointmentType(models.Model):
    """A kind of appointment an organisation offers: "Initial assessment with needling, 60 min"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    minutes = models.PositiveSmallIntegerField(
        "length in minutes",
        validators=[MinValueValidator(SHORTEST_MINUTES), MaxValueValidator(LONGEST_MINUTES)],
    )
    needling = models.BooleanField(
        "includes dry needling",
        default=True,
        help_text="Needs screening and consent, and a therapist with a current dry-needling "
        "credential. Off for manual therapy, exercise or education only.",
    )
    colour = models.CharField(max_length=7, default="#2f6f8f", validators=[colour])
    bookable_online = models.BooleanField(
        "patients may book it online", default=False, help_text="Offered in the patient portal."
    )
    is_active = models.BooleanField(default=True, help_text="Offered for new bookings.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "appointment type"
        constraints = [
            models.UniqueConstraint(
                F("organization"),
                Lower("name"),
                name="appointment_type_name_once",
                violation_error_message="The organisation already has an appointment type of "
                "this name.",
            ),
            # Target of the bookings' composite foreign key (one organisation).
            models.UniqueConstraint(fields=["organization", "id"], name="appointment_type_id"),
            models.CheckConstraint(condition=~Q(name=""), name="appointment_type_named"),
            models.CheckConstraint(
                condition=Q(minutes__gte=SHORTEST_MINUTES, minutes__lte=LONGEST_MINUTES),
                name="appointment_type_length",
                violation_error_message="An appointment lasts 5 to 240 minutes.",
            ),
            models.CheckConstraint(
                condition=Q(colour__regex=r"^#[0-9a-fA-F]{6}$"), name="appointment_type_colour"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.minutes} min)"


class HoursOfTheDay(Func):
    """Working hours as a range on one fixed day, for the exclusion constraint (PostgreSQL
    has no range of times of day)."""

    function = "TSRANGE"
    arg_joiner = ", DATE '2000-01-03' + "
    template = "%(function)s(DATE '2000-01-03' + %(expressions)s, '[)')"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class WorkingHours(models.Model):
    """A therapist works at a clinic on a weekday from `starts` to `ends` (the clinic's clock)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="working_hours")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["weekday", "starts"]
        verbose_name = "working hours"
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=F("starts")),
                name="working_hours_end_after_they_start",
                violation_error_message="Working hours end after they start, on the same day.",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="working_hours_weekday"
            ),
            # A therapist is at one clinic at a time: no two rows of theirs overlap.
            ExclusionConstraint(
                name="working_hours_not_overlapping",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("therapist"), RangeOperators.EQUAL),
                    (F("weekday"), RangeOperators.EQUAL),
                    (HoursOfTheDay(F("starts"), F("ends")), RangeOperators.OVERLAPS),
                ],
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "clinic", "weekday"], name="working_hours_clinic")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class ChangeKind(models.TextChoices):
    AWAY = "away", "Away (holiday, sick day, course)"
    EXTRA = "extra", "Extra working hours"
    CLOSED = "closed", "Clinic closed"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ScheduleChange(models.Model):
    """A one-off change to the working hours: someone away, extra hours, the clinic closed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="schedule_changes")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule_changes",
        help_text="Empty when the whole clinic is closed.",
    )
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name = "schedule change"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="schedule_change_ends_after_it_starts",
                violation_error_message="A change ends after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(kind=ChangeKind.CLOSED, therapist__isnull=True)
                | (~Q(kind=ChangeKind.CLOSED) & Q(therapist__isnull=False)),
                name="schedule_change_names_its_therapist",
                violation_error_message="A closure is the whole clinic's; away and extra hours "
                "name a therapist.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "clinic", "starts_at"], name="schedule_change_clinic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.starts_at:%Y-%m-%d %H:%M}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class BookingSettings(models.Model):
    """An organisation's rules for reminders, cancellations and online booking.

    Until an organisation admin saves them, the defaults hold (the unsaved row
    `sessions.services.schedule.booking_settings_of` gives).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="booking_settings"
    )
    reminder_hours = models.PositiveSmallIntegerField(
        "send reminders (hours before)",
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24)],
        help_text="How long before each booking its reminder is e-mailed: 1 to 168 hours.",
    )
    notice_hours = models.PositiveSmallIntegerField(
        "notice period (hours)",
        default=24,
        validators=[MaxValueValidator(7 * 24)],
        help_text="A cancellation later than this before the booking is recorded as late; "
        "online, patients book no sooner than this ahead and reschedule no later. 0 to 168.",
    )
    online_days_ahead = models.PositiveSmallIntegerField(
        "online booking window (days)",
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="How far ahead patients may book online: 1 to 365 days.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "booking settings"
        verbose_name_plural = "booking settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(reminder_hours__gte=1, reminder_hours__lte=7 * 24),
                name="booking_settings_reminder_hours",
                violation_error_message="Send reminders 1 to 168 hours before.",
            ),
            models.CheckConstraint(
                condition=Q(notice_hours__lte=7 * 24),
                name="booking_settings_notice_hours",
                violation_error_message="The notice period is 0 to 168 hours.",
            ),
            models.CheckConstraint(
                condition=Q(online_days_ahead__gte=1, online_days_ahead__lte=365),
                name="booking_settings_online_days_ahead",
                violation_error_message="The online booking window is 1 to 365 days.",
            ),
        ]

    def __str__(self) -> str:
        return f"Booking settings of {self.organization}"
