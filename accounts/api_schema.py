"""What the API's schema says of every operation besides its own answer: the errors it can
give, each in the one shape config/api.py gives every error."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error answer (config.api.exception_handler). Some carry more keys: a likely
    duplicate lists its `matches`, a chart conflict says who saved and what changed, a
    double booking offers the `next_slots`."""

    detail = serializers.CharField(help_text="A sentence for a person.")
    code = serializers.CharField(help_text="Machine-readable, e.g. `invalid`, `not_found`.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The messages for each field concerned; `non_field_errors` for the whole "
        "request. Empty when no field is to blame.",
    )

    class Meta:
        ref_name = "Error"


ERRORS = {
    "400": "Not valid: the body, a filter or a header; or a rule refuses it. `fields` names "
    "the part.",
    "401": "No session and no token, or the token is wrong or revoked.",
    "403": "Logged in, but two-factor authentication must be set up first, or your role does "
    "not allow this.",
    "404": "No such record, or not one you can see (the two are not told apart); for a list, "
    "a page past the end.",
    "409": "The write clashes with the record as it now stands, or with one saved a moment "
    "before (the database's constraints are the last word).",
    "415": "The body is not JSON, a form or multipart/form-data, or cannot be read as "
    "its Content-Type says.",
    "429": "Too many requests from you (or, without a login, from your address): wait the "
    "seconds Retry-After says, then send it again.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request.",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    }
}


class DocumentedErrorsSchema(AutoSchema):
    """Each operation's schema lists the errors it can answer, besides its own.

    401, 403 and 429 everywhere (every endpoint needs a login and is throttled, 429 with
    Retry-After); 404 where a path names a record or a list has pages; 400 and 409 for
    every write (a rule or the database may refuse it), 400 for a read with filters or
    headers; 415 where a body is read. An error an
    action documents itself (a chart's 412 with who saved and when) may also come in the
    plain shape (a 409 for a session not started yet): its schema says either.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        where = {parameter["in"] for parameter in parameters}
        filters = {p["name"] for p in parameters if p["in"] == "query"} - {"page", "page_size"}
        errors = ["401", "403", "429"]
        if "path" in where or "page" in {p["name"] for p in parameters}:
            errors.append("404")
        if self.method != "GET":
            errors += ["400", "409"]
        elif filters or "header" in where:
            errors.append("400")
        if "requestBody" in operation:
            errors.append("415")
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status, response in responses.items():
            if status.startswith("4"):
                _or_plain_error(response, error)
        for status in errors:
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, ERRORS[status]), status
                )
        responses["429"]["headers"] = RETRY_AFTER
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def _or_plain_error(response: dict, error: dict) -> None:
    """An error response documented with its own body (or none) may be the plain one."""
    content = response.setdefault("content", {"application/json": {"schema": error}})
    for media in content.values():
        schema = media.get("schema")
        if schema is not None and schema != error:
            media["schema"] = {"anyOf": [schema, error]}
