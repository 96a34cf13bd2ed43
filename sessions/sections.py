"""Sections that higher apps add to a session's page, without sessions importing them.

An app above sessions (aftercare) registers a section in its AppConfig.ready():
a function of (request, session) that returns the HTML of its part of the page,
or "" when the user may see nothing of it. While the chart is edited the
sections come just before signing, so what signing will issue is seen first;
otherwise after the chart. They are shown in the order they were registered.

A second kind says what signing will issue, in a few lines, on the confirmation
asked before signing (sessions/views/signing.py): each app that acts on
`session_signed` registers one with `register_signing`, in the same way.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from sessions.models import TreatmentSession

Section = Callable[[HttpRequest, TreatmentSession], SafeString | str]

_sections: list[Section] = []
_signing: list[Section] = []


def register(section: Section) -> None:
    if section not in _sections:
        _sections.append(section)


def render_sections(request: HttpRequest, session: TreatmentSession) -> list[str]:
    return [html for section in _sections if (html := section(request, session))]


def register_signing(summary: Section) -> None:
    """Add what signing will issue (its "what the patient will get") to the confirmation."""
    if summary not in _signing:
        _signing.append(summary)


def render_signing(request: HttpRequest, session: TreatmentSession) -> list[str]:
    return [html for summary in _signing if (html := summary(request, session))]
