"""Reading patient records through the API writes lines in the access log."""

from rest_framework.response import Response

from patients import services
from patients.models import Patient, ReadVia, RecordPart


class LoggedReadMixin:
    """`retrieve` for a viewset of patient records: the record, and who read it."""

    read_part: RecordPart

    def retrieve(self, request, pk=None):
        record = self.get_object()
        services.record_read(
            reader=request.user,
            patient=self.patient_of(record),
            part=self.read_part,
            via=ReadVia.API,
        )
        return Response(self.get_serializer(record).data)

    def patient_of(self, record) -> Patient:
        return record.patient


class LoggedListMixin(LoggedReadMixin):
    """`list` too: a page of answers or signatures is a read of each patient's record on it."""

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        services.record_reads(
            reader=request.user,
            patients=[self.patient_of(record) for record in page],
            part=self.read_part,
            via=ReadVia.API,
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
