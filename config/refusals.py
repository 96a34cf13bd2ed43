"""Writes the database refused, explained once for the API and the pages.

The serializers, forms and services check first, with clear messages; the database holds
the same rules (unique and exclusion constraints, foreign keys, checks, triggers) and is
the last word when two requests race past the checks together. Its refusal is answered
as what it is: a clash 409, a broken rule 400, naming the field, never a 500.

A write that row-level security refuses (clinics/row_security.py: a row of an
organisation the request does not reach) is answered as the access rules answer
it: not found, saying nothing of what is there.
"""

import re
from dataclasses import dataclass

from django.apps import apps
from django.db import IntegrityError, ProgrammingError
from django.db.models import UniqueConstraint
from django.http import Http404
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

UNIQUE, EXCLUSION, FOREIGN_KEY, NOT_NULL = "23505", "23P01", "23503", "23502"
INSUFFICIENT_PRIVILEGE = "42501"
NOT_YOURS = "Not found: no such record, or not one you can see."
KEY = re.compile(r"Key \(([^)]*)\)")


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    field: str | None


def explain(error: IntegrityError) -> Refusal:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    state = getattr(cause, "sqlstate", None)
    constraint = _constraint(getattr(diag, "constraint_name", None))
    field = _field(constraint, getattr(diag, "message_detail", None) or "") or getattr(
        diag, "column_name", None
    )
    if state in (UNIQUE, EXCLUSION):
        message = _own_message(constraint) or (
            f"{field}: another record already has this value (perhaps saved a moment ago): "
            "choose another."
            if field
            else "Another record already has these values (perhaps saved a moment ago)."
        )
        return Refusal(409, "conflict", message, field)
    if state == FOREIGN_KEY:
        message = f"{field or 'a reference'}: the record it names no longer exists."
    elif state == NOT_NULL:
        message = f"{field}: this field is required."
    else:  # a check constraint or a trigger's refusal, which says what it refuses
        message = _own_message(constraint) or getattr(diag, "message_primary", None) or str(error)
    return Refusal(400, "invalid", message, field)


def beyond_row_security(error: Exception) -> bool:
    """Whether `error` is row-level security refusing a row of another organisation."""
    cause = getattr(error, "__cause__", None)
    return (
        isinstance(error, ProgrammingError)
        and getattr(cause, "sqlstate", None) == INSUFFICIENT_PRIVILEGE
        and "row-level security" in str(error)
    )


class DatabaseRefusalMiddleware:
    """The pages' side: a write the database refused shows what was refused (409 or 400)
    with a way back, not a server error. The API answers it itself (config.api)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if beyond_row_security(exception):
            raise Http404(NOT_YOURS) from exception
        if not isinstance(exception, IntegrityError):
            return None
        refusal = explain(exception)
        return render(
            request,
            "refused_by_the_database.html",
            {"refusal": refusal, "back": _back(request)},
            status=refusal.status,
        )


def _back(request) -> str:
    """The page the request came from, if it is one of this site's."""
    referer = request.META.get("HTTP_REFERER", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return referer if safe else ""


def _constraint(name: str | None):
    if not name:
        return None
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name:
                return constraint
    return None


def _field(constraint, detail: str) -> str | None:
    """The field a user would change: the constraint's last field that is not the tenant key,
    or the last column PostgreSQL names in its detail ("Key (organization_id, name)=...")."""
    if isinstance(constraint, UniqueConstraint) and constraint.fields:
        names = [name for name in constraint.fields if name != "organization"]
        return names[-1] if names else None
    found = KEY.search(detail)
    if found is None:
        return None
    columns = [column.strip() for column in found.group(1).split(",")]
    columns = [column for column in columns if column != "organization_id"]
    return columns[-1].removesuffix("_id") if columns else None


def _own_message(constraint) -> str | None:
    """The constraint's own violation message, when its model gave one."""
    if constraint is None:
        return None
    message = constraint.violation_error_message
    if message == constraint.default_violation_error_message:
        return None
    return str(message)
