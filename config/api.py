"""What every API answer shares: pagination and the shape of errors."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinics.exceptions import FasciaError
from config import refusals


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
        refusal = refusals.explain(exc)
        fields = {refusal.field: [refusal.message]} if refusal.field else {}
        return _error(refusal.status, refusal.message, refusal.code, fields)
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(_django_errors(exc))
    if isinstance(exc, Http404) or refusals.beyond_row_security(exc):
        exc = exceptions.NotFound(refusals.NOT_YOURS)
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


def not_found(request, exception):
    """handler404: an address that is no API route answers in the API's shape (JSON), not
    with an HTML page; every other address gets Django's page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {
                "detail": f"No such address in the API: {request.path_info}. "
                "Ids are UUIDs; see /api/docs/.",
                "code": "not_found",
                "fields": {},
            },
            status=404,
        )
    return defaults.page_not_found(request, exception)
