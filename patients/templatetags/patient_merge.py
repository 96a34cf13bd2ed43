"""Links to merging two records of one person, shown to those who may merge them."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

from patients import selectors
from patients.models import Patient

register = template.Library()


def _user(context):
    return getattr(context.get("request"), "user", None)


@register.simple_tag(takes_context=True)
def may_merge(context, patient: Patient) -> bool:
    """May the user merge records of `patient`'s organisation (its organisation admins)?"""
    user = _user(context)
    return user is not None and selectors.may_merge(user, patient)


@register.simple_tag(takes_context=True)
def merge_link(context, *, keep: Patient, merge_away: Patient) -> str:
    """A link to the side-by-side comparison, for those who may merge (or nothing)."""
    user = _user(context)
    # Both are of one organisation; `merge_away` is the page's patient, already loaded.
    if user is None or not selectors.may_merge(user, merge_away):
        return ""
    return format_html(
        '<a class="button secondary" href="{}">Compare and merge into {}</a>',
        reverse("patients:merge", args=[keep.pk, merge_away.pk]),
        keep.full_name,
    )


@register.filter
def reasons_in_words(reasons: list[str]) -> str:
    """Why a record looks like the patient typed, as the warning says it."""
    return selectors.in_words(reasons or [])


@register.simple_tag
def elsewhere_count(matches) -> int:
    """How many likely duplicates the user may not open: counted, never named."""
    return sum(1 for _, may_open in matches if not may_open)
