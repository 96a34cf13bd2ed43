"""The admin's History pages, told from the events the database triggers keep (pghistory).

Django's own history lists only what was changed through the admin; the
trigger-kept events also hold changes made by the pages, the API, bulk
updates and SQL, each with the user of the request that made it.
"""

from dataclasses import dataclass

from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse

from accounts.models import User

UNTOLD_CHANGES = frozenset({"version", "updated_at", "search_name", "phone_digits"})
"""Columns that change with every save or follow from others: no news in a history."""


@dataclass(frozen=True)
class HistoryEntry:
    """One event, shaped like the LogEntry that Django's history page lists."""

    action_time: object
    user: User | None
    message: str

    def get_change_message(self) -> str:
        return self.message


def history_of(obj) -> list[HistoryEntry]:
    """What happened to `obj`, oldest first, from its pghistory events (bulk updates included)."""
    events = list(obj.events.select_related("pgh_context").order_by("pgh_id"))
    user_ids = {
        event.pgh_context.metadata.get("user") for event in events if event.pgh_context_id
    } - {None}
    users = User.objects.in_bulk(user_ids)
    fields = [
        field
        for field in type(obj)._meta.concrete_fields
        if field.attname not in UNTOLD_CHANGES and not field.generated
    ]
    entries, previous = [], None
    for event in events:
        metadata = event.pgh_context.metadata if event.pgh_context_id else {}
        entries.append(
            HistoryEntry(
                action_time=event.pgh_created_at,
                user=users.get(_user_id(metadata.get("user"))),
                message=_what_happened(event, previous, fields),
            )
        )
        previous = event
    return entries


def _user_id(value):
    try:
        return User._meta.pk.to_python(value) if value else None
    except ValidationError:
        return None


def _what_happened(event, previous, fields) -> str:
    if event.pgh_label == "insert":
        return "Created."
    if event.pgh_label == "delete":
        return "Deleted."
    if previous is None:
        return "Changed."
    changes = []
    for field in fields:
        before, after = getattr(previous, field.attname), getattr(event, field.attname)
        if before == after:
            continue
        if field.is_relation:
            changes.append(f"{field.verbose_name} changed")
        else:
            changes.append(f"{field.verbose_name}: {_shown(before)} → {_shown(after)}")
    return "; ".join(changes).capitalize() + "." if changes else "Saved without changes."


def _shown(value) -> str:
    if value in (None, "", []):
        return "(empty)"
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    return f"“{value}”"


class EventHistoryMixin:
    """The admin's History page lists the database's events, not only the admin's own log."""

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        paginator = self.get_paginator(request, history_of(obj), 100)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {obj}",
            "subtitle": None,
            "action_list": page,
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
            "pagination_required": paginator.count > 100,
            "module_name": self.opts.verbose_name_plural.capitalize(),
            "object": obj,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/object_history.html", context)
