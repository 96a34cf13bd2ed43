"""What every API answer shares: pagination and the shape of errors."""

import re

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import UniqueConstraint
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinics.exceptions import FasciaError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def exception_handler(exc, context):
    """Every error as {"detail": "...", "code": "...", "fields": {...}}."""
    if isinstance(exc, FasciaError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        response = _error(exc.status, exc.message, exc.code, fields)
        response.data.update(exc.details())
        return response
    if isinstance(exc, IntegrityError):
        return _refused_by_the_database(exc)
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(_django_errors(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: no such record, or not one you can see.")
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.NotAuthenticated):
        exc.detail = exceptions.ErrorDetail(
            "Log in, or send a token: Authorization: Bearer <token>.", "not_authenticated"
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {
            name: [str(message) for message in _as_list(messages)]
            for name, messages in fields.items()
        }
        detail = "; ".join(
            (f"{name}: " if name != "non_field_errors" else "") + " ".join(messages)
            for name, messages in fields.items()
        )
        response.data = {"detail": detail, "code": "invalid", "fields": fields}
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    response.data = {
        "detail": str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc),
        "code": codes if isinstance(codes, str) else "error",
        "fields": {},
    }
    return response


def _error(status_code: int, detail: str, code: str, fields: dict) -> Response:
    return Response({"detail": detail, "code": code, "fields": fields}, status=status_code)


def _django_errors(error: ValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if name == "__all__" else name): messages
            for name, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def _as_list(messages) -> list:
    if isinstance(messages, dict):
        return [f"{key}: {' '.join(map(str, _as_list(value)))}" for key, value in messages.items()]
    if isinstance(messages, list):
        return messages
    return [messages]


# --- Writes the database refused ------------------------------------------------------------
#
# The serializers and services check first, with clear messages; the database holds the
# same rules (unique and exclusion constraints, foreign keys, checks, triggers) and is the
# last word when two requests race past the checks together. Its refusal is answered here,
# once for the whole API: a clash 409, a broken rule 400, naming the field, never a 500.

UNIQUE, EXCLUSION, FOREIGN_KEY, NOT_NULL = "23505", "23P01", "23503", "23502"
KEY = re.compile(r"Key \(([^)]*)\)")


def _refused_by_the_database(error: IntegrityError) -> Response:
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
        return _named(409, message, "conflict", field)
    if state == FOREIGN_KEY:
        message = f"{field or 'a reference'}: the record it names no longer exists."
    elif state == NOT_NULL:
        message = f"{field}: this field is required."
    else:  # a check constraint or a trigger's refusal, which says what it refuses
        message = _own_message(constraint) or getattr(diag, "message_primary", None) or str(error)
    return _named(400, message, "invalid", field)


def _named(status_code: int, message: str, code: str, field: str | None) -> Response:
    fields = {field: [message]} if field else {}
    return _error(status_code, message, code, fields)


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
