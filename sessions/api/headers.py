"""The headers a chart request carries: `If-Match` and `Fascia-Client` in, `ETag` out,
and `Idempotency-Key`.

A chart's ETag is its version, quoted ("3"). It changes with every change:
the notes, pain scores or needle counts saved, a template applied, a row
(needle site, measurement, adverse event) added or removed. `Fascia-Client`
names the device or app instance saving: a stale If-Match is built on only
over the same user's saves from the same client.
"""

import re
from contextlib import contextmanager

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions

from clinics.exceptions import FasciaError
from patients.api.idempotency import naming_the_header
from sessions.exceptions import ChartConflict
from sessions.services.chart import checked_client

IF_MATCH = "If-Match"
ETAG = "ETag"
CLIENT = "Fascia-Client"

IF_MATCH_RULE = (
    f'Send the chart\'s ETag in the {IF_MATCH} header (for example {IF_MATCH}: "3"), '
    "as the last GET of /chart/ gave it."
)


class IfMatchMissing(FasciaError):
    """A write that could overwrite someone else's save came without the version it started from."""

    status = 428
    code = "precondition_required"


def if_match_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        IF_MATCH,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        required=required,
        description='The chart\'s ETag as you read it ("3"; W/"3" and 3 are taken too). '
        "If someone saved since, the answer is 412 with who saved, when and what changed"
        + ("." if required else "; left out, the chart is signed as it now stands."),
    )


ETAG_HEADER = OpenApiParameter(
    ETAG,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=[200],
    description="The chart's version, quoted: send it back in If-Match to save.",
)

CLIENT_PARAMETER = OpenApiParameter(
    CLIENT,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    pattern=r"^[A-Za-z0-9_-]{8,64}$",
    description="An id of the device, app instance or browser tab saving, made once by it "
    "(a UUID will do): 8 to 64 letters, digits, hyphens or underscores. A save from an older "
    "version is refused (412) when anyone changed a field since, including you from another "
    "client id; it is accepted over your own saves from this one (the answer to them was "
    "lost). Left out, your saves without it count as one client. Send it.",
)


def client_id(request) -> str:
    """The `Fascia-Client` header's id, "" when left out; anything else is 400 naming it."""
    return checked_client(request.headers.get(CLIENT), field=CLIENT)


_VERSION = re.compile(r"[0-9]{1,9}")


def expected_version(request, *, required: bool) -> int | None:
    """The chart version the `If-Match` header names; None when it is absent and may be."""
    value = (request.headers.get(IF_MATCH) or "").strip()
    if not value:
        if required:
            raise IfMatchMissing(
                f"{IF_MATCH}: a chart is saved only over the version you read. {IF_MATCH_RULE}",
                field=IF_MATCH,
            )
        return None
    tag = value[2:].strip() if value[:2] in ("W/", "w/") else value
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if not _VERSION.fullmatch(tag) or int(tag) < 1:
        raise exceptions.ValidationError(
            {IF_MATCH: [f"Not a chart version: “{value[:40]}”. {IF_MATCH_RULE}"]}
        )
    return int(tag)


def etag(version: int) -> str:
    return f'"{version}"'


@contextmanager
def precondition_on_if_match():
    """A save over a newer version, checked against `If-Match`, answers 412 naming the header."""
    try:
        yield
    except ChartConflict as conflict:
        conflict.status = 412
        conflict.field = IF_MATCH
        raise


naming_the_idempotency_key = naming_the_header
"""The services call it the form's submission key; API clients know it as the header."""
