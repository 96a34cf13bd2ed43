"""Writes on the calendar's makings: appointment types, working hours, schedule changes,
and the organisation's booking settings.

Organisation admins keep the appointment types and the booking settings;
organisation admins and clinic managers keep the working hours and the
schedule changes of their clinics.
An appointment type is never deleted (bookings name it): it is made inactive.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from clinics import access
from clinics.models import Clinic, Membership, Organization, Role
from sessions import availability
from sessions.exceptions import BookingRefused, NotPermitted
from sessions.models import (
    AppointmentType,
    BookingSettings,
    ChangeKind,
    ScheduleChange,
    Weekday,
    WorkingHours,
)
from sessions.models.schedule import LONGEST_MINUTES, SHORTEST_MINUTES, colour

TYPE_FIELDS = ("name", "minutes", "needling", "colour", "bookable_online", "is_active")
SETTINGS_RANGES = {
    "reminder_hours": (1, 7 * 24, "send reminders 1 to 168 hours before the booking"),
    "notice_hours": (0, 7 * 24, "the notice period is 0 to 168 hours"),
    "online_days_ahead": (1, 365, "patients may book online 1 to 365 days ahead"),
}


class ScheduleInvalid(BookingRefused):
    """A value the calendar does not take: the message names the field and the rule."""

    code = "schedule_invalid"


def _constraint(error: IntegrityError) -> str:
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", "") or ""


# --- Appointment types ----------------------------------------------------------------


def _checked_type(fields: dict) -> dict:
    unknown = sorted(set(fields) - set(TYPE_FIELDS))
    if unknown:
        raise ScheduleInvalid(
            f"{unknown[0]}: not a field of an appointment type.", field=unknown[0]
        )
    if "name" in fields:
        name = " ".join(str(fields["name"] or "").split())
        if not name or len(name) > 100:
            raise ScheduleInvalid(
                "name: name the appointment type (up to 100 characters).", field="name"
            )
        fields["name"] = name
    if "minutes" in fields:
        minutes = fields["minutes"]
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not SHORTEST_MINUTES <= minutes <= LONGEST_MINUTES
        ):
            raise ScheduleInvalid(
                f"minutes: an appointment lasts {SHORTEST_MINUTES} to {LONGEST_MINUTES} minutes.",
                field="minutes",
            )
    if "colour" in fields:
        try:
            colour(str(fields["colour"]))
        except ValidationError:
            raise ScheduleInvalid(
                "colour: give # and six hexadecimal digits, such as #2f6f8f.", field="colour"
            ) from None
        fields["colour"] = str(fields["colour"]).lower()
    for flag in ("needling", "bookable_online", "is_active"):
        if flag in fields:
            fields[flag] = bool(fields[flag])
    return fields


def _saved_type(appointment_type: AppointmentType) -> AppointmentType:
    try:
        with transaction.atomic():
            appointment_type.save()
    except IntegrityError as error:
        if _constraint(error) == "appointment_type_name_once":
            raise ScheduleInvalid(
                f"name: the organisation already has an appointment type named "
                f"{appointment_type.name}.",
                field="name",
            ) from None
        raise
    return appointment_type


@transaction.atomic
def create_appointment_type(*, organization: Organization, by, **fields) -> AppointmentType:
    """Add a kind of appointment to the organisation (organisation admins)."""
    if not access.can_at(by, "add", AppointmentType, organization=organization):
        raise NotPermitted("Organisation admins keep the appointment types.")
    fields = _checked_type(fields)
    for needed in ("name", "minutes"):
        if needed not in fields:
            raise ScheduleInvalid(f"{needed}: this field is required.", field=needed)
    return _saved_type(AppointmentType(organization=organization, **fields))


@transaction.atomic
def update_appointment_type(*, appointment_type: AppointmentType, by, **fields) -> AppointmentType:
    """Change a type; sessions booked with it keep their own length and needling."""
    appointment_type = AppointmentType.objects.select_for_update().get(pk=appointment_type.pk)
    if not access.can(by, "change", appointment_type):
        raise NotPermitted("Organisation admins keep the appointment types.")
    for name, value in _checked_type(fields).items():
        setattr(appointment_type, name, value)
    return _saved_type(appointment_type)


# --- Booking settings -------------------------------------------------------------------


def booking_settings_of(organization: Organization) -> BookingSettings:
    """The organisation's settings; the defaults (unsaved) until an admin saves them."""
    saved = BookingSettings.objects.filter(organization=organization).first()
    return saved or BookingSettings(organization=organization)


@transaction.atomic
def save_booking_settings(*, organization: Organization, by, **fields) -> BookingSettings:
    """Reminders already queued keep their time; the new rules hold from now on."""
    if not access.can_at(by, "change", BookingSettings, organization=organization):
        raise NotPermitted("Only an organisation admin can change the booking settings.")
    checked = {}
    for name, value in fields.items():
        if name not in SETTINGS_RANGES:
            raise ScheduleInvalid(f"{name}: not a booking setting.", field=name)
        low, high, rule = SETTINGS_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ScheduleInvalid(f"{name}: {rule}, in whole hours or days.", field=name)
        checked[name] = value
    saved, _ = BookingSettings.objects.select_for_update().get_or_create(
        organization=organization, defaults=checked
    )
    for name, value in checked.items():
        setattr(saved, name, value)
    saved.save()
    return saved


# --- Working hours ----------------------------------------------------------------------


def _therapist_at(clinic: Clinic, therapist: User) -> None:
    if not availability.works_at(clinic, therapist):
        raise ScheduleInvalid(
            f"therapist: {therapist.get_full_name()} is not a therapist at {clinic.name}.",
            field="therapist",
        )


def _may_keep(by, model, clinic: Clinic, action: str = "add") -> None:
    if not access.can_at(by, action, model, organization=clinic.organization, clinic=clinic):
        raise NotPermitted(
            f"Organisation admins and the managers of {clinic.name} keep its calendar.",
            field="clinic",
        )


def _checked_hours(starts, ends) -> None:
    for name, value in (("starts", starts), ("ends", ends)):
        if not isinstance(value, datetime.time):
            raise ScheduleInvalid(f"{name}: give a time of day, such as 08:30.", field=name)
    if ends <= starts:
        raise ScheduleInvalid(
            f"ends: working hours end after they start, on the same day "
            f"({starts:%H:%M} to {ends:%H:%M}).",
            field="ends",
        )


def _saved_hours(hours: WorkingHours) -> WorkingHours:
    try:
        with transaction.atomic():
            hours.save()
    except IntegrityError as error:
        if _constraint(error) == "working_hours_not_overlapping":
            clash = (
                WorkingHours.objects.filter(
                    organization_id=hours.organization_id,
                    therapist_id=hours.therapist_id,
                    weekday=hours.weekday,
                    starts__lt=hours.ends,
                    ends__gt=hours.starts,
                )
                .exclude(pk=hours.pk)
                .select_related("clinic")
                .first()
            )
            where = (
                f" ({clash.starts:%H:%M}-{clash.ends:%H:%M} at {clash.clinic.name})"
                if clash
                else ""
            )
            raise ScheduleInvalid(
                f"starts: {hours.therapist.get_full_name()} already works on "
                f"{Weekday(hours.weekday).label} at that time{where}.",
                field="starts",
            ) from None
        raise
    return hours


@transaction.atomic
def add_working_hours(
    *,
    clinic: Clinic,
    therapist: User,
    weekday: int,
    starts: datetime.time,
    ends: datetime.time,
    by,
) -> WorkingHours:
    """`therapist` works at `clinic` every `weekday` from `starts` to `ends` (the clinic's
    clock). A therapist's rows never overlap, at one clinic or several."""
    _may_keep(by, WorkingHours, clinic)
    _therapist_at(clinic, therapist)
    if weekday not in Weekday.values:
        raise ScheduleInvalid("weekday: 0 (Monday) to 6 (Sunday).", field="weekday")
    _checked_hours(starts, ends)
    return _saved_hours(
        WorkingHours(
            organization_id=clinic.organization_id,
            clinic=clinic,
            therapist=therapist,
            weekday=weekday,
            starts=starts,
            ends=ends,
        )
    )


@transaction.atomic
def change_working_hours(
    *, hours: WorkingHours, by, starts: datetime.time, ends: datetime.time
) -> WorkingHours:
    hours = WorkingHours.objects.select_for_update().select_related("clinic").get(pk=hours.pk)
    _may_keep(by, WorkingHours, hours.clinic, "change")
    _checked_hours(starts, ends)
    hours.starts, hours.ends = starts, ends
    return _saved_hours(hours)


@transaction.atomic
def remove_working_hours(*, hours: WorkingHours, by) -> None:
    """Bookings already made in those hours stay; new ones are warned."""
    hours = WorkingHours.objects.select_for_update().select_related("clinic").get(pk=hours.pk)
    _may_keep(by, WorkingHours, hours.clinic, "delete")
    hours.delete()


# --- Schedule changes -------------------------------------------------------------------


@transaction.atomic
def add_schedule_change(
    *,
    clinic: Clinic,
    kind: str,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    by,
    therapist: User | None = None,
    reason: str = "",
) -> ScheduleChange:
    """Record a therapist away or working extra hours, or the clinic closed, from `starts_at`
    to `ends_at`. Bookings already made stay: the calendar shows them in the change."""
    _may_keep(by, ScheduleChange, clinic)
    if kind not in ChangeKind.values:
        raise ScheduleInvalid(f"kind: one of {', '.join(ChangeKind.values)}.", field="kind")
    if kind == ChangeKind.CLOSED and therapist is not None:
        raise ScheduleInvalid(
            "therapist: a closure is the whole clinic's; leave the therapist out.",
            field="therapist",
        )
    if kind != ChangeKind.CLOSED:
        if therapist is None:
            raise ScheduleInvalid(
                f"therapist: say who is {'away' if kind == ChangeKind.AWAY else 'working'}.",
                field="therapist",
            )
        _therapist_at(clinic, therapist)
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
            raise ScheduleInvalid(f"{name}: give a date and time with its timezone.", field=name)
    if ends_at <= starts_at:
        raise ScheduleInvalid("ends_at: a change ends after it starts.", field="ends_at")
    if ends_at - starts_at > datetime.timedelta(days=366):
        raise ScheduleInvalid("ends_at: a change lasts a year at most.", field="ends_at")
    reason = " ".join(str(reason or "").split())
    if len(reason) > 200:
        raise ScheduleInvalid("reason: at most 200 characters.", field="reason")
    return ScheduleChange.objects.create(
        organization_id=clinic.organization_id,
        clinic=clinic,
        therapist=therapist,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        recorded_by=by,
    )


@transaction.atomic
def remove_schedule_change(*, change: ScheduleChange, by) -> None:
    change = ScheduleChange.objects.select_for_update().select_related("clinic").get(pk=change.pk)
    _may_keep(by, ScheduleChange, change.clinic, "delete")
    change.delete()


def forget_hours_of_revoked_role(sender, *, membership: Membership, **kwargs) -> None:
    """clinics' `role_revoked`: a therapist who no longer works at a clinic has no working
    hours there (their history keeps them)."""
    if membership.role == Role.THERAPIST and membership.clinic_id is not None:
        WorkingHours.objects.filter(
            organization_id=membership.organization_id,
            clinic_id=membership.clinic_id,
            therapist_id=membership.user_id,
        ).delete()
