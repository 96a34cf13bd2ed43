"""The `Idempotency-Key` header: a retried submission returns the first one's record."""

import uuid
from contextlib import contextmanager

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions

from patients.exceptions import Conflict, SubmissionKeyReused

HEADER = "Idempotency-Key"

HEADER_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=False,
    description="A UUID the client makes once per submission. Sending the same request again "
    "with the same key (a retry after a timeout, a double click) answers with the record the "
    "first one made, and makes no second one.",
)


def submission_key(request) -> uuid.UUID | None:
    """The header's UUID, None when it is absent; anything else is refused, naming the header."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise exceptions.ValidationError(
            {HEADER: [f"The {HEADER} header must be a UUID, or be left out; got “{value[:40]}”."]}
        ) from None


@contextmanager
def naming_the_header():
    """The services call it a submission key; API clients know it as the header."""
    try:
        yield
    except SubmissionKeyReused as reused:
        reused.field = HEADER
        raise


def as_seen_by(queryset: QuerySet, record: Model, key: uuid.UUID | None, **same) -> Model:
    """`record`, which a service just returned, read again through the caller's scope.

    The services answer a known key with the record it made, whoever made it and
    for whichever patient: a key reused for another submission must neither show
    someone else's record nor pass for this one.
    """
    seen = queryset.filter(pk=record.pk, **same).first()
    if seen is None and key is not None:
        raise Conflict(
            f"This {HEADER} was already used for another submission. Make a new key for "
            "a new submission.",
            field=HEADER,
        )
    if seen is None:
        raise exceptions.NotFound("The record was saved, but it is not one you can see.")
    return seen
