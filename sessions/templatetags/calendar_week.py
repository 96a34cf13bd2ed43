"""The week calendar's cells, written in Python rather than in the template language.

A busy week is 1,500 bookings: through `{% for %}`, `{% url %}` and filters, the
template took half a second to write them; the same markup from f-strings takes
a few milliseconds. The template (sessions/calendar_week.html) keeps the page;
`{% week_day_cells %}` writes one day's row of cells.
"""

import datetime
import functools
from html import escape

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from clinics.routes import url_maker
from sessions.calendar import Booked, Free, WeekDay
from sessions.models import Status

register = template.Library()


@register.simple_tag(takes_context=True)
def week_day_cells(context, weekday: WeekDay) -> SafeString:
    """The `<td>`s of one day: per therapist, their bookings and free times in order."""
    may_book = context["may_book"]
    zone = context["clinic"].zone
    detail, move = url_maker("sessions:detail"), url_maker("sessions:move")
    book = reverse("sessions:book")
    day = weekday.day
    iso, day_name = day.isoformat(), escape(f"{day:%A} {day.day} {day:%B}")
    cells = []
    for entries in weekday.cells:
        parts = []
        for entry in entries:
            if isinstance(entry, Booked):
                parts.append(_booking(entry, zone, may_book, detail, move))
            else:
                parts.append(_free(entry, zone, may_book, book, iso, day_name))
        inner = "".join(parts) or '<span class="visually-hidden">Not working</span>'
        cells.append(f'<td class="calendar-week-day">{inner}</td>')
    return mark_safe("".join(cells))  # noqa: S308 (every value above is escaped)


def _hhmm(moment: datetime.datetime, zone) -> str:
    local = moment.astimezone(zone)  # what timezone.localtime does, without its checks
    return f"{local.hour:02d}:{local.minute:02d}"


def _booking(entry: Booked, zone, may_book: bool, detail, move) -> str:
    session = entry.session
    pk, minutes = str(session.pk), session.minutes
    name = escape(session.patient.full_name)
    starts = _hhmm(session.starts_at, zone)
    kind = session.appointment_type
    what = (
        escape(kind.name)
        if kind is not None
        else ("without needling" if not session.needling else f"{minutes} min")
    )
    if session.booked_online:
        what += " · booked online"
    if session.confirmed_at is not None:
        what += " · confirmed"
    type_class = f" type-{kind.pk.hex}" if kind is not None else ""
    movable = may_book and session.status == Status.BOOKED
    moves = move(pk) if movable else ""
    drag = (
        f' draggable="true" data-move="{moves}" data-patient="{name}"'
        f' data-time="{starts}" data-minutes="{minutes}"'
        if movable
        else ""
    )
    status = (
        f'<span class="badge">{escape(session.get_status_display())}</span>'
        if session.status != Status.BOOKED
        else ""
    )
    marks = _badges(tuple((level, mark) for level, mark, _url in entry.marks))
    button = (
        f'<button type="button" class="link calendar-move" data-moves="{moves}" '
        f'hidden>Move<span class="visually-hidden"> {name}</span></button>'
        if movable
        else ""
    )
    return (
        f'<div class="calendar-entry"><a class="calendar-session{type_class}" '
        f'href="{detail(pk)}"{drag}><strong>{starts} {name}</strong>'
        f'<span class="muted">{what}</span>{status}{marks}</a>{button}</div>'
    )


@functools.cache
def _badges(marks: tuple) -> str:
    """A booking's readiness badges: a handful of kinds, written once each."""
    return " ".join(
        f'<span class="badge {escape(level)}">{escape(mark)}</span>' for level, mark in marks
    )


def _free(entry: Free, zone, may_book: bool, book: str, iso: str, day_name: str) -> str:
    starts, ends = _hhmm(entry.starts_at, zone), _hhmm(entry.ends_at, zone)
    label = f"Free {starts}\N{EN DASH}{ends}"
    if not may_book:
        return f'<span class="calendar-free-time muted">{label}</span>'
    therapist = escape(entry.therapist.get_full_name())
    return (
        f'<a class="calendar-free-time" href="{book}?date={iso}&amp;time={starts}'
        f'&amp;therapist={entry.therapist.pk}" data-drop data-day="{iso}" '
        f'data-day-name="{day_name}" data-from="{starts}" data-until="{ends}" '
        f'data-therapist="{entry.therapist.pk}" data-therapist-name="{therapist}" '
        f'aria-label="Book {day_name} from {starts} with {therapist}">{label}</a>'
    )
