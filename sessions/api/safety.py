"""Recalls and reviews: who was needled with a lot, and the adverse events admins review.

Both show parts of charts, so each page is written to the access log, one line
per patient on it.
"""

from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from clinics.api import UUID_PATTERN, visible_clinics
from patients import services as patient_services
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions import selectors, services
from sessions.api.booking import visible_therapists
from sessions.api.references import MuscleEntrySerializer, SessionSummarySerializer
from sessions.api.rows import AdverseEventSerializer
from sessions.exceptions import NotPermitted
from sessions.models import AdverseEvent, AdverseEventKind, NeedleSite, Severity, TreatmentSession


def visible_sessions(request):
    return access.visible_to(request.user, TreatmentSession.objects.all())


def log_page(request, rows) -> None:
    """A page of chart rows is a read of the chart of each patient on it (one insert)."""
    patient_services.record_reads(
        reader=request.user,
        patients=[row.session.patient for row in rows],
        part=RecordPart.CHART,
        via=ReadVia.API,
    )


# --- Recall: who was needled with this lot ---------------------------------------------


class RecallSiteSerializer(serializers.ModelSerializer):
    muscle = MuscleEntrySerializer(source="muscle_entry", read_only=True)
    session = SessionSummarySerializer(read_only=True)

    class Meta:
        model = NeedleSite
        fields = [
            "id",
            "lot_number",
            "session",
            "muscle",
            "muscle_name",
            "side",
            "needles",
            "needle_length_mm",
            "needle_gauge_mm",
            "recorded_at",
        ]
        read_only_fields = fields


class RecallFilter(filters.FilterSet):
    clinic = filters.ModelChoiceFilter(field_name="session__clinic", queryset=visible_clinics)
    patient = filters.ModelChoiceFilter(field_name="session__patient", queryset=visible_patients)
    therapist = filters.ModelChoiceFilter(
        field_name="session__therapist", queryset=visible_therapists
    )

    class Meta:
        model = NeedleSite
        fields = ["clinic", "patient", "therapist"]


LOT_NUMBER = OpenApiParameter(
    "lot_number",
    OpenApiTypes.STR,
    required=True,
    description="The needle lot number as printed on the box (case and spaces do not matter).",
)

NO_RECALL = (
    "Your role does not read charts, so it cannot tell who was needled with a lot: ask a "
    "therapist, clinic manager or organisation admin to run the recall."
)


class NeedleSiteRecallView(generics.ListAPIView):
    """For a recall: every needle site you can see that used needles of one lot.

    An organisation admin sees the whole organisation; clinic staff see their
    clinics. The front desk is refused (403) rather than shown an empty list,
    which would read as "nobody".
    """

    queryset = NeedleSite.objects.none()  # the schema's model; the rows come from the selector
    serializer_class = RecallSiteSerializer
    filterset_class = RecallFilter

    def get_queryset(self):
        user = self.request.user
        if not access.may_use(user, NeedleSite, "view"):
            raise NotPermitted(NO_RECALL)
        lot = " ".join(self.request.query_params.get("lot_number", "").split())
        if not lot or len(lot) > 40:
            raise serializers.ValidationError(
                {
                    "lot_number": [
                        "Give the needle lot number to look for, up to 40 characters as printed "
                        "on the box (for example ?lot_number=LOT-2026-A)."
                    ]
                }
            )
        return selectors.needled_with_lot(user, lot)

    @extend_schema(parameters=[LOT_NUMBER])
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        log_page(request, page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# --- Adverse events and their review ------------------------------------------------------


class AdverseEventListSerializer(AdverseEventSerializer):
    session = SessionSummarySerializer(read_only=True)

    class Meta(AdverseEventSerializer.Meta):
        fields = [*AdverseEventSerializer.Meta.fields, "session"]
        read_only_fields = fields


class ReviewSerializer(serializers.Serializer):
    note = serializers.CharField(help_text="What the review found and decided.")


class AdverseEventFilter(filters.FilterSet):
    needs_review = filters.BooleanFilter(
        method="awaiting_review",
        help_text="true: still waiting for an organisation admin's review; false: the others.",
    )
    kind = filters.ChoiceFilter(choices=AdverseEventKind.choices)
    severity = filters.ChoiceFilter(choices=Severity.choices)
    clinic = filters.ModelChoiceFilter(field_name="session__clinic", queryset=visible_clinics)
    patient = filters.ModelChoiceFilter(field_name="session__patient", queryset=visible_patients)
    session = filters.ModelChoiceFilter(queryset=visible_sessions)

    class Meta:
        model = AdverseEvent
        fields = ["needs_review", "kind", "severity", "clinic", "patient", "session"]

    def awaiting_review(self, queryset, name, value: bool):
        awaiting = Q(needs_review=True, review__isnull=True)
        return queryset.filter(awaiting) if value else queryset.exclude(awaiting)


class AdverseEventViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Adverse events across the sessions you can see; organisation admins review the serious.

    They are recorded on a session's chart (POST /sessions/{id}/adverse-events/).
    """

    queryset = AdverseEvent.objects.select_related(
        "session__clinic",
        "session__patient",
        "session__therapist",
        "recorded_by",
        "review__reviewed_by",
    ).order_by("recorded_at", "id")
    serializer_class = AdverseEventListSerializer
    filterset_class = AdverseEventFilter
    lookup_value_regex = UUID_PATTERN

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        log_page(request, page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        event = self.get_object()
        patient_services.record_read(
            reader=request.user,
            patient=event.session.patient,
            part=RecordPart.CHART,
            via=ReadVia.API,
            item=event.session,
        )
        return Response(self.get_serializer(event).data)

    # Who reviews is the service's rule (organisation admins), not the event's "add" rule.
    @extend_schema(request=ReviewSerializer, responses={201: AdverseEventListSerializer})
    @action(detail=True, methods=["post"], permission_classes=[access.IsStaffWithMfa])
    def review(self, request, pk=None):
        """Record an organisation admin's review of a suspected pneumothorax."""
        event = self.get_object()
        review = ReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        services.review_adverse_event(event=event, by=request.user, **review.validated_data)
        event = self.get_queryset().get(pk=event.pk)
        return Response(self.get_serializer(event).data, status=status.HTTP_201_CREATED)
