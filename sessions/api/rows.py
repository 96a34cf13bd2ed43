"""The rows of a chart (needle sites, measurements, adverse events) and its addenda.

Rows are added and removed one at a time, each under the session they belong
to; adding accepts an Idempotency-Key. ChartRowActions also holds the gate every
chart action passes: the session must be one the caller sees (404 otherwise),
and its chart one their role reads (403 otherwise: the front desk, and a patient
on their own session, know the session exists, so a 404 would be a puzzle, not
a secret).
"""

from typing import NamedTuple

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from patients import services as patient_services
from patients.api.idempotency import HEADER_PARAMETER, submission_key
from patients.models import ReadVia, RecordPart
from sessions import services
from sessions.api.headers import naming_the_idempotency_key
from sessions.api.references import MuscleEntrySerializer, StaffNameSerializer
from sessions.exceptions import NotPermitted
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventKind,
    AdverseEventReview,
    Chart,
    Joint,
    MeasuredSide,
    Movement,
    NeedleSite,
    PressurePainThreshold,
    RangeOfMotion,
    Severity,
    Side,
    Technique,
    TreatmentSession,
    TwitchResponse,
)

NO_CHART = (
    "Your role does not read or write session charts: clinical notes are for therapists, "
    "clinic managers and organisation admins. The booking itself is at /api/v1/sessions/{id}/."
)

# --- What a row shows ---------------------------------------------------------------------


class NeedleSiteSerializer(serializers.ModelSerializer):
    muscle = MuscleEntrySerializer(source="muscle_entry", read_only=True)
    risk_acknowledged_by = StaffNameSerializer(read_only=True, allow_null=True)
    recorded_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = NeedleSite
        fields = [
            "id",
            "muscle",
            "muscle_name",
            "side",
            "needles",
            "needle_length_mm",
            "needle_gauge_mm",
            "depth_mm",
            "technique",
            "twitch_response",
            "retention_minutes",
            "lot_number",
            "pneumothorax_risk",
            "risk_acknowledged_at",
            "risk_acknowledged_by",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields


class RangeOfMotionSerializer(serializers.ModelSerializer):
    recorded_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = RangeOfMotion
        fields = ["id", "joint", "movement", "side", "degrees", "recorded_by", "recorded_at"]
        read_only_fields = fields


class PressurePainThresholdSerializer(serializers.ModelSerializer):
    recorded_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = PressurePainThreshold
        fields = ["id", "site", "side", "kg_per_cm2", "recorded_by", "recorded_at"]
        read_only_fields = fields


class AdverseEventReviewSerializer(serializers.ModelSerializer):
    reviewed_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = AdverseEventReview
        fields = ["note", "reviewed_by", "reviewed_at"]
        read_only_fields = fields


class AdverseEventSerializer(serializers.ModelSerializer):
    needs_review = serializers.SerializerMethodField(
        help_text="True while an organisation admin has still to review it (a suspected "
        "pneumothorax is always reviewed)."
    )
    review = AdverseEventReviewSerializer(read_only=True, allow_null=True)
    recorded_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "kind",
            "severity",
            "action_taken",
            "notes",
            "needs_review",
            "review",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields

    def get_needs_review(self, event: AdverseEvent) -> bool:
        return event.needs_review and not hasattr(event, "review")


class AddendumSerializer(serializers.ModelSerializer):
    author = StaffNameSerializer(read_only=True)

    class Meta:
        model = Addendum
        fields = ["id", "text", "author", "written_at"]
        read_only_fields = fields


# --- What a row takes ---------------------------------------------------------------------


class NeedleSiteInputSerializer(serializers.Serializer):
    muscle = serializers.CharField(
        help_text="A muscle's code from /api/v1/muscles/ (e.g. upper-trapezius)."
    )
    side = serializers.ChoiceField(choices=Side.choices)
    needles = serializers.IntegerField(help_text="1 to 50 needles at this site.")
    needle_length_mm = serializers.IntegerField(help_text="7 to 150 mm.")
    needle_gauge_mm = serializers.DecimalField(
        max_digits=4, decimal_places=2, help_text="The needle's diameter, 0.12 to 0.50 mm."
    )
    depth_mm = serializers.DecimalField(
        max_digits=5, decimal_places=1, help_text="0.5 mm up to the needle's length."
    )
    technique = serializers.ChoiceField(choices=Technique.choices)
    twitch_response = serializers.ChoiceField(choices=TwitchResponse.choices)
    retention_minutes = serializers.IntegerField(default=0, help_text="0 to 60 minutes.")
    lot_number = serializers.CharField(help_text="As printed on the box, for recalls.")
    risk_acknowledged = serializers.BooleanField(
        default=False,
        help_text="Required over the thorax, upper back or neck: the pneumothorax risk.",
    )


class RangeOfMotionInputSerializer(serializers.Serializer):
    joint = serializers.ChoiceField(choices=Joint.choices)
    movement = serializers.ChoiceField(choices=Movement.choices)
    side = serializers.ChoiceField(choices=MeasuredSide.choices)
    degrees = serializers.IntegerField(help_text="0 to 360.")


class PressurePainThresholdInputSerializer(serializers.Serializer):
    site = serializers.CharField(help_text="Where it was measured, up to 100 characters.")
    side = serializers.ChoiceField(choices=MeasuredSide.choices)
    kg_per_cm2 = serializers.DecimalField(
        max_digits=4, decimal_places=1, help_text="0.1 to 20 kg/cm²."
    )


class AdverseEventInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=AdverseEventKind.choices,
        help_text="A suspected pneumothorax goes to the organisation admins for review.",
    )
    severity = serializers.ChoiceField(choices=Severity.choices)
    action_taken = serializers.CharField(help_text="What was done.")
    notes = serializers.CharField(allow_blank=True, default="")


class AddendumInputSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The correction or later note.")


class ChartRow(NamedTuple):
    """A kind of row of a chart: added and removed on its own, under /sessions/{id}/<path>/."""

    model: type
    add: object
    takes: type[serializers.Serializer]
    shows: type[serializers.Serializer]


CHART_ROWS = {
    "needle-sites": ChartRow(
        NeedleSite, services.add_needle_site, NeedleSiteInputSerializer, NeedleSiteSerializer
    ),
    "range-of-motion": ChartRow(
        RangeOfMotion,
        services.add_range_of_motion,
        RangeOfMotionInputSerializer,
        RangeOfMotionSerializer,
    ),
    "pressure-pain-thresholds": ChartRow(
        PressurePainThreshold,
        services.add_pressure_pain_threshold,
        PressurePainThresholdInputSerializer,
        PressurePainThresholdSerializer,
    ),
    "adverse-events": ChartRow(
        AdverseEvent,
        services.add_adverse_event,
        AdverseEventInputSerializer,
        AdverseEventSerializer,
    ),
}
"""The rows of a chart by the path they are added at; config.urls routes their DELETE."""


def _row_schema(kind: str):
    row = CHART_ROWS[kind]
    return extend_schema(
        request=row.takes,
        responses={201: row.shows},
        parameters=[HEADER_PARAMETER],
        description=f"Add a {row.model._meta.verbose_name} to the draft chart. "
        "Sent again with the same Idempotency-Key, the answer is the row the first made.",
    )


ROW_ID = OpenApiParameter("row_id", OpenApiTypes.UUID, location=OpenApiParameter.PATH)


def log_chart_read(request, session: TreatmentSession) -> None:
    patient_services.record_read(
        reader=request.user,
        patient=session.patient,
        part=RecordPart.CHART,
        via=ReadVia.API,
        item=session,
    )


class ChartRowActions:
    """Detail actions on the sessions viewset (which provides get_object): rows and addenda."""

    row_kind: str | None = None
    """Set per route for `remove_chart_row` (sessions.api.chart_row_view), one of CHART_ROWS."""

    def chart_session(self) -> TreatmentSession:
        """The session (404 unless the caller sees it), if the caller may read its chart."""
        session = self.get_object()
        if not access.can_at(
            self.request.user,
            "view",
            Chart,
            organization=session.organization,
            clinic=session.clinic,
        ):
            raise NotPermitted(NO_CHART)
        return session

    def add_chart_row(self, request, kind: str) -> Response:
        session = self.chart_session()
        key = submission_key(request)
        row = CHART_ROWS[kind]
        takes = row.takes(data=request.data)
        takes.is_valid(raise_exception=True)
        with naming_the_idempotency_key():
            added = row.add(
                session=session, by=request.user, submission_key=key, **takes.validated_data
            )
        return Response(row.shows(added).data, status=status.HTTP_201_CREATED)

    @_row_schema("needle-sites")
    @action(
        detail=True,
        methods=["post"],
        url_path="needle-sites",
        url_name="needle-sites",
        permission_classes=[access.LoggedInWithMfa],
    )
    def needle_sites(self, request, pk=None):
        return self.add_chart_row(request, "needle-sites")

    @_row_schema("range-of-motion")
    @action(
        detail=True,
        methods=["post"],
        url_path="range-of-motion",
        url_name="range-of-motion",
        permission_classes=[access.LoggedInWithMfa],
    )
    def range_of_motion(self, request, pk=None):
        return self.add_chart_row(request, "range-of-motion")

    @_row_schema("pressure-pain-thresholds")
    @action(
        detail=True,
        methods=["post"],
        url_path="pressure-pain-thresholds",
        url_name="pressure-pain-thresholds",
        permission_classes=[access.LoggedInWithMfa],
    )
    def pressure_pain_thresholds(self, request, pk=None):
        return self.add_chart_row(request, "pressure-pain-thresholds")

    @_row_schema("adverse-events")
    @action(
        detail=True,
        methods=["post"],
        url_path="adverse-events",
        url_name="adverse-events",
        permission_classes=[access.LoggedInWithMfa],
    )
    def adverse_events(self, request, pk=None):
        return self.add_chart_row(request, "adverse-events")

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[ROW_ID],
        description="Take a row out of the draft chart (kept in its history). A signed chart "
        "keeps every row: 409.",
    )
    def remove_chart_row(self, request, pk=None, row_id=None):
        session = self.chart_session()
        model = CHART_ROWS[self.row_kind].model
        row = (
            access.visible_to(request.user, model.objects.filter(session=session, pk=row_id))
            .select_related("session")
            .first()
        )
        if row is None:
            raise exceptions.NotFound(
                f"No {model._meta.verbose_name} with id {row_id} in this session's chart."
            )
        services.remove_chart_row(row=row, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=AddendumSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], permission_classes=[access.LoggedInWithMfa])
    def addenda(self, request, pk=None):
        """The addenda under the signed chart, oldest first."""
        session = self.chart_session()
        addenda = access.visible_to(
            request.user, Addendum.objects.filter(session=session).select_related("author")
        ).order_by("written_at", "id")
        page = self.paginate_queryset(addenda)
        log_chart_read(request, session)
        return self.get_paginated_response(AddendumSerializer(page, many=True).data)

    @extend_schema(
        request=AddendumInputSerializer,
        responses={201: AddendumSerializer},
        parameters=[HEADER_PARAMETER],
    )
    @addenda.mapping.post
    def add_addendum(self, request, pk=None):
        """Add a correction or later note under the signed chart."""
        session = self.chart_session()
        key = submission_key(request)
        add = AddendumInputSerializer(data=request.data)
        add.is_valid(raise_exception=True)
        with naming_the_idempotency_key():
            addendum = services.add_addendum(
                session=session, by=request.user, submission_key=key, **add.validated_data
            )
        return Response(AddendumSerializer(addendum).data, status=status.HTTP_201_CREATED)
