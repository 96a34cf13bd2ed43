"""Sections that higher apps add to the patient pages, without patients importing them.

An app above patients (sessions, aftercare) registers a panel in its
AppConfig.ready(): a function of (request, patient) that returns the HTML of
its section, or "" when the user may see nothing of it.

- `register` adds a panel to the staff patient page;
- `register_portal` adds one to the portal's home page, either before the
  patient's to-do list (what matters most after a session: a check-in to
  answer, the aftercare to read) or after it.

Panels are shown in the order they were registered.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from patients.models import Patient

Panel = Callable[[HttpRequest, Patient], SafeString | str]

_panels: list[Panel] = []
_portal_panels: list[tuple[Panel, bool]] = []


def register(panel: Panel) -> None:
    if panel not in _panels:
        _panels.append(panel)


def render_panels(request: HttpRequest, patient: Patient) -> list[str]:
    return [html for panel in _panels if (html := panel(request, patient))]


def register_portal(panel: Panel, *, before_tasks: bool) -> None:
    if all(panel is not known for known, _ in _portal_panels):
        _portal_panels.append((panel, before_tasks))


def render_portal_panels(request: HttpRequest, patient: Patient) -> dict[str, list[str]]:
    """The portal panels' HTML: {"before_tasks": [...], "after_tasks": [...]}."""
    shown: dict[str, list[str]] = {"before_tasks": [], "after_tasks": []}
    for panel, before_tasks in _portal_panels:
        if html := panel(request, patient):
            shown["before_tasks" if before_tasks else "after_tasks"].append(html)
    return shown
