"""Every API answer that carries a patient's data writes a line in the access log."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.serializers import ListSerializer

from patients import services
from patients.models import ReadVia, RecordPart


def shown_rows(data) -> list:
    """The model rows an answer serialized: one row, or the page of a list (paginated or not)."""
    serializer = getattr(data, "serializer", None)
    if serializer is None and isinstance(data, dict):
        serializer = getattr(data.get("results"), "serializer", None)
    if serializer is None or serializer.instance is None:
        return []
    if isinstance(serializer, ListSerializer):
        return list(serializer.instance)
    return [serializer.instance]


class LoggedResponsesMixin:
    """For an API view of a patient's record: any successful answer (a read, a list, the record
    a write returns) logs a read of the record of each patient whose rows it serialized, in one
    insert, after the view was let through. What the view logged itself (a chart, with its
    session) is not logged twice.

    `read_part` is the part the view shows; `list_part`, if set, what its list shows.
    """

    read_part: RecordPart
    list_part: RecordPart | None = None

    def dispatch(self, request, *args, **kwargs):
        with services.one_response():
            return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if status.is_success(response.status_code) and request.user.is_authenticated:
            listing = getattr(self, "action", None) == "list"
            services.record_reads_of(
                reader=request.user,
                rows=shown_rows(getattr(response, "data", None)),
                part=(self.list_part or self.read_part) if listing else self.read_part,
                via=ReadVia.API,
            )
        return response


class LoggedReadMixin(LoggedResponsesMixin):
    """`retrieve` for a viewset of patient records (the read is logged on the way out)."""

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)


class LoggedListMixin(LoggedReadMixin):
    """`list` too: a page of answers or signatures is a read of each patient's record on it."""

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
