"""A session's chart as one document: read it with its ETag, save it over If-Match, sign.

These are detail actions of /api/v1/sessions/{id}/ (ChartActions, mixed into the
sessions viewset); the rows and addenda are in rows.py. Each action parses,
calls one service, and renders; the services hold every rule.
"""

import dataclasses

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from clinics.api import scoped_field
from patients import safety
from patients.api.safety import NoticeSerializer
from patients.contraindications import Contraindication
from sessions import selectors, services
from sessions.api.headers import (
    CLIENT_PARAMETER,
    ETAG,
    ETAG_HEADER,
    client_id,
    etag,
    expected_version,
    if_match_parameter,
    precondition_on_if_match,
)
from sessions.api.references import StaffNameSerializer
from sessions.api.rows import (
    NO_CHART,
    AddendumSerializer,
    AdverseEventSerializer,
    ChartRowActions,
    NeedleSiteSerializer,
    PressurePainThresholdSerializer,
    RangeOfMotionSerializer,
    log_chart_read,
)
from sessions.exceptions import NotPermitted
from sessions.models import (
    Chart,
    ChartTemplate,
    ContraindicationOverride,
    Status,
    TreatmentSession,
)

# --- What a chart shows --------------------------------------------------------------


class OverrideSerializer(serializers.ModelSerializer):
    contraindications = serializers.ListField(
        child=serializers.ChoiceField(choices=Contraindication.choices), read_only=True
    )
    recorded_by = StaffNameSerializer(read_only=True)

    class Meta:
        model = ContraindicationOverride
        fields = ["contraindications", "reason", "recorded_by", "recorded_at"]
        read_only_fields = fields


class TemplateReferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChartTemplate
        fields = ["id", "name"]
        read_only_fields = fields


def _from_chart(field: serializers.Field, name: str, **kwargs) -> serializers.Field:
    return field(source=f"chart.{name}", read_only=True, **kwargs)


class ChartSerializer(serializers.Serializer):
    """The whole chart of a session (selectors.ChartView), as one document."""

    session = serializers.UUIDField(source="session.pk", read_only=True)
    status = serializers.ChoiceField(
        source="session.status", choices=Status.choices, read_only=True
    )
    signed_at = serializers.DateTimeField(
        source="session.signed_at", read_only=True, allow_null=True
    )
    signed_by = StaffNameSerializer(source="session.signed_by", read_only=True, allow_null=True)
    complaint = _from_chart(serializers.CharField, "complaint")
    pain_before = _from_chart(serializers.IntegerField, "pain_before", allow_null=True)
    subjective_notes = _from_chart(serializers.CharField, "subjective_notes")
    findings = _from_chart(serializers.CharField, "findings")
    assessment = _from_chart(serializers.CharField, "assessment")
    plan = _from_chart(serializers.CharField, "plan")
    pain_after = _from_chart(serializers.IntegerField, "pain_after", allow_null=True)
    needles_inserted = _from_chart(serializers.IntegerField, "needles_inserted")
    needles_removed = _from_chart(serializers.IntegerField, "needles_removed")
    needles_charted = serializers.IntegerField(
        read_only=True, help_text="Needles over all needle sites: signing needs it to equal both."
    )
    needling_ended_at = _from_chart(
        serializers.DateTimeField,
        "needling_ended_at",
        allow_null=True,
        help_text="When the needling ended, as charted (to the minute); null when not recorded, "
        "and the check-ins then count from the signature.",
    )
    version = _from_chart(
        serializers.IntegerField, "version", help_text="Also the ETag: send it in If-Match."
    )
    updated_at = _from_chart(serializers.DateTimeField, "updated_at", allow_null=True)
    updated_by = StaffNameSerializer(source="chart.updated_by", read_only=True, allow_null=True)
    template = TemplateReferenceSerializer(source="chart.template", read_only=True, allow_null=True)
    override = OverrideSerializer(
        read_only=True,
        allow_null=True,
        help_text="The therapist's reason to needle despite relative contraindications.",
    )
    needle_sites = NeedleSiteSerializer(many=True, read_only=True)
    range_of_motion = RangeOfMotionSerializer(many=True, read_only=True)
    pressure_pain_thresholds = PressurePainThresholdSerializer(many=True, read_only=True)
    adverse_events = AdverseEventSerializer(many=True, read_only=True)
    addenda = AddendumSerializer(many=True, read_only=True)
    before_the_needle = serializers.SerializerMethodField(
        help_text="While the session is in progress, what to read about the patient: open "
        "alerts (urgent first), adverse events under review, contraindications, screening and "
        "consent, one line each with its page (as the session's answer). Empty once signed."
    )

    @extend_schema_field(NoticeSerializer(many=True))
    def get_before_the_needle(self, shown) -> list[dict]:
        session = shown.session
        if session.status != Status.IN_PROGRESS:
            return []
        summary = safety.summary_of(
            self.context["request"].user, session.patient, clinic=session.clinic
        )
        return [notice.as_dict() for notice in summary.for_session(session).notices]


class ChartConflictSerializer(serializers.Serializer):
    """412 (If-Match) or 409 (version in the body): someone saved since you read."""

    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    version = serializers.IntegerField(help_text="The chart's version now.")
    saved_by = serializers.CharField()
    saved_at = serializers.DateTimeField()
    changed = serializers.DictField(
        help_text="The fields that read differently from the version you sent, as they are now."
    )


# --- What a chart takes ---------------------------------------------------------------


def _text(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text=help_text
    )


class ClinicClockDateTimeField(serializers.DateTimeField):
    """A date and time; without a UTC offset it stays as typed, for the service to read on
    the session's clinic's clock."""

    def enforce_timezone(self, value):
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


class SaveChartSerializer(serializers.Serializer):
    """The chart fields to save; those left out stay as they are."""

    complaint = _text("The presenting complaint.")
    pain_before = serializers.IntegerField(
        required=False, allow_null=True, help_text="0 (none) to 10 (worst imaginable)."
    )
    subjective_notes = _text()
    findings = _text("Objective findings.")
    assessment = _text()
    plan = _text()
    pain_after = serializers.IntegerField(
        required=False, allow_null=True, help_text="0 (none) to 10 (worst imaginable)."
    )
    needles_inserted = serializers.IntegerField(required=False, help_text="0 to 500.")
    needles_removed = serializers.IntegerField(required=False, help_text="0 to 500.")
    needling_ended_at = ClinicClockDateTimeField(
        required=False,
        allow_null=True,
        help_text="When the needling ended: not before the session started, not in the future; "
        "kept to the minute. A time without a UTC offset is on the clinic's clock. Null clears "
        "it. The check-ins count from it (from the signature when it is not recorded).",
    )

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            taken = ", ".join(self.fields)
            raise serializers.ValidationError(
                {
                    name: [f"Not a field you can save on a chart (those are {taken})."]
                    for name in unknown
                }
            )
        return attrs


class ApplyTemplateSerializer(serializers.Serializer):
    template = scoped_field(
        ChartTemplate,
        lambda user: access.visible_to(user, ChartTemplate.objects.filter(is_active=True)),
        help_text="An active template of the session's organisation: it fills the empty "
        "text fields only.",
    )
    version = serializers.IntegerField(
        min_value=1, help_text="The chart version you read; if someone saved since, 409."
    )


class ChartActions(ChartRowActions):
    """The chart's detail actions on the sessions viewset; the rows' come with ChartRowActions."""

    def chart_answer(self, session: TreatmentSession, code: int = status.HTTP_200_OK) -> Response:
        """The whole chart with its ETag; every answer showing it goes in the access log."""
        user = self.request.user
        shown = selectors.chart_view(user, session)
        if shown is None:
            raise NotPermitted(NO_CHART)
        if shown.chart is None:  # nothing saved yet: an empty chart at version 1
            shown = dataclasses.replace(
                shown,
                chart=Chart(
                    organization_id=session.organization_id, session=session, updated_at=None
                ),
            )
        log_chart_read(self.request, session)
        response = Response(
            ChartSerializer(shown, context={"request": self.request}).data, status=code
        )
        response[ETAG] = etag(shown.chart.version)
        return response

    @extend_schema(responses=ChartSerializer, parameters=[ETAG_HEADER])
    @action(detail=True, methods=["get"], permission_classes=[access.LoggedInWithMfa])
    def chart(self, request, pk=None):
        """The session's whole chart, with its version as the ETag. Clinical staff only."""
        return self.chart_answer(self.chart_session())

    @extend_schema(
        request=SaveChartSerializer,
        responses={
            200: ChartSerializer,
            412: OpenApiResponse(ChartConflictSerializer, "Someone saved since your If-Match."),
            428: OpenApiResponse(description="No If-Match header."),
        },
        parameters=[if_match_parameter(required=True), CLIENT_PARAMETER, ETAG_HEADER],
    )
    @chart.mapping.patch
    def save_chart(self, request, pk=None):
        """Save notes, pain scores and needle counts over the version in If-Match."""
        session = self.chart_session()
        version = expected_version(request, required=True)
        client = client_id(request)
        save = SaveChartSerializer(data=request.data)
        save.is_valid(raise_exception=True)
        with precondition_on_if_match():
            services.save_chart(
                session=session,
                by=request.user,
                expected_version=version,
                client=client,
                **save.validated_data,
            )
        return self.chart_answer(session)

    @extend_schema(
        request=ApplyTemplateSerializer,
        responses={
            200: ChartSerializer,
            409: OpenApiResponse(ChartConflictSerializer, "Someone saved since your version."),
        },
        parameters=[CLIENT_PARAMETER, ETAG_HEADER],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="chart/template",
        url_name="chart-template",
        permission_classes=[access.LoggedInWithMfa],
    )
    def apply_template(self, request, pk=None):
        """Fill the chart's empty text fields from a chart template."""
        session = self.chart_session()
        client = client_id(request)
        apply = ApplyTemplateSerializer(data=request.data, context=self.get_serializer_context())
        apply.is_valid(raise_exception=True)
        services.apply_template(
            session=session,
            by=request.user,
            template=apply.validated_data["template"],
            expected_version=apply.validated_data["version"],
            client=client,
        )
        return self.chart_answer(session)

    @extend_schema(
        request=None,
        responses={
            200: ChartSerializer,
            412: OpenApiResponse(ChartConflictSerializer, "Someone saved since your If-Match."),
        },
        parameters=[if_match_parameter(required=False), ETAG_HEADER],
    )
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def sign(self, request, pk=None):
        """Sign the chart (the session's therapist): it is locked; later notes are addenda."""
        session = self.chart_session()
        version = expected_version(request, required=False)
        with precondition_on_if_match():
            session = services.sign_session(
                session=session, by=request.user, expected_version=version
            )
        return self.chart_answer(session)


__all__ = ["ChartActions", "ChartSerializer"]
