"""Sections that higher apps add to the staff patient page, without patients importing them.

An app above patients (sessions, aftercare) registers a panel in its
AppConfig.ready(): a function of (request, patient) that returns the HTML of
its section, or "" when the user may see nothing of it. Panels are shown in
the order they were registered.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from patients.models import Patient

Panel = Callable[[HttpRequest, Patient], SafeString | str]

_panels: list[Panel] = []


def register(panel: Panel) -> None:
    if panel not in _panels:
        _panels.append(panel)


def render_panels(request: HttpRequest, patient: Patient) -> list[str]:
    return [html for panel in _panels if (html := panel(request, patient))]
