"""Alerts: check-in answers with a red flag, in front of the clinic until someone resolves them.

The staff of the clinic see its alerts; the front desk sees who and how urgent,
never the answers or the notes behind them (selectors.alert_view decides what one
alert shows to whom). Therapists, managers and admins acknowledge and resolve.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aftercare import selectors, services
from aftercare.api.check_ins import CheckInAnswerSerializer
from aftercare.api.choices import named_choice_field
from aftercare.models import Alert, AlertLevel, AlertNote, NoteKind
from clinics import access
from clinics.api import UUID_PATTERN, visible_clinics
from patients import services as patient_services
from patients.api.reads import LoggedResponsesMixin
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions.api.references import (
    ClinicReferenceSerializer,
    PatientReferenceSerializer,
    StaffNameSerializer,
)

# --- What an alert shows ------------------------------------------------------------------


class AlertNoteSerializer(serializers.ModelSerializer):
    kind = named_choice_field(NoteKind.choices, component_name="AlertNoteKindEnum", read_only=True)
    written_by = StaffNameSerializer(
        read_only=True, allow_null=True, help_text="Null for the escalation Fascia wrote."
    )

    class Meta:
        model = AlertNote
        fields = ["id", "kind", "text", "written_at", "written_by"]
        read_only_fields = fields


class CheckInAlertSerializer(serializers.ModelSerializer):
    """An alert: who, where, how urgent, and whether someone is on it; never why."""

    clinic = ClinicReferenceSerializer(read_only=True)
    patient = PatientReferenceSerializer(read_only=True)
    therapist = StaffNameSerializer(read_only=True, help_text="Who treated the patient.")
    level = named_choice_field(AlertLevel.choices, component_name="AlertLevelEnum", read_only=True)
    is_open = serializers.BooleanField(read_only=True, help_text="False once resolved.")
    acknowledged_by = StaffNameSerializer(read_only=True, allow_null=True)
    resolved_by = StaffNameSerializer(read_only=True, allow_null=True)
    may_act = serializers.SerializerMethodField(
        help_text="Whether you may acknowledge and resolve it."
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "level",
            "is_open",
            "clinic",
            "patient",
            "session",
            "check_in",
            "therapist",
            "raised_at",
            "escalate_at",
            "escalated_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "may_act",
        ]
        read_only_fields = fields

    def get_may_act(self, alert: Alert) -> bool:
        return alert.pk in self.context.get("acting_on", ())


class CheckInAlertDetailSerializer(CheckInAlertSerializer):
    """One alert, with the answers behind it and what was done, for those who read them."""

    answer = serializers.SerializerMethodField(
        help_text="The check-in answers that raised it; null for the front desk."
    )
    notes = serializers.SerializerMethodField(
        help_text="Acknowledgements, the resolution and any escalation, oldest first; empty "
        "for the front desk."
    )
    red_flags = serializers.SerializerMethodField(
        help_text="What the patient reported before answering the rest (reasons, as in "
        "triage_reasons), which raised the alert then; empty when the answers came at once, "
        "and for the front desk."
    )
    red_flags_reported_at = serializers.SerializerMethodField(
        help_text="When they were reported; null when none were (or for the front desk)."
    )

    class Meta(CheckInAlertSerializer.Meta):
        fields = [
            *CheckInAlertSerializer.Meta.fields,
            "answer",
            "red_flags",
            "red_flags_reported_at",
            "notes",
        ]
        read_only_fields = fields

    @extend_schema_field(CheckInAnswerSerializer(allow_null=True))
    def get_answer(self, alert: Alert):
        answer = self.context["view"].answer
        return CheckInAnswerSerializer(answer).data if answer is not None else None

    @extend_schema_field(AlertNoteSerializer(many=True))
    def get_notes(self, alert: Alert):
        return AlertNoteSerializer(self.context["view"].notes, many=True).data

    def get_red_flags(self, alert: Alert) -> list[str]:
        return self.context["view"].red_flags

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_red_flags_reported_at(self, alert: Alert):
        reported_at = self.context["view"].red_flags_reported_at
        return serializers.DateTimeField().to_representation(reported_at) if reported_at else None


# --- What acting on one takes ---------------------------------------------------------------


class AcknowledgeAlertSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional: what you are doing about it. Up to 5,000 characters.",
    )


class ResolveAlertSerializer(serializers.Serializer):
    note = serializers.CharField(
        allow_blank=True,
        help_text="What was done (for example: called the patient, advised rest). Up to "
        "5,000 characters.",
    )


OPEN_OR_RESOLVED = [("open", "Open"), ("resolved", "Resolved")]


class AlertFilter(filters.FilterSet):
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    level = filters.ChoiceFilter(choices=AlertLevel.choices)
    status = filters.ChoiceFilter(
        choices=OPEN_OR_RESOLVED, method="open_or_resolved", help_text="open or resolved."
    )

    class Meta:
        model = Alert
        fields = ["clinic", "patient", "level", "status"]

    def open_or_resolved(self, queryset, name, value: str):
        return queryset.filter(resolved_at__isnull=value == "open")


class AlertViewSet(
    LoggedResponsesMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Check-in alerts of the clinics you work at: open ones first, urgent ones first, newest
    first. Raised by the triage of a check-in answer; never made or deleted here."""

    queryset = Alert.objects.select_related(
        "clinic", "patient", "therapist", "acknowledged_by", "resolved_by"
    ).order_by(*Alert._meta.ordering, "id")
    serializer_class = CheckInAlertSerializer
    read_part = RecordPart.DETAILS  # answers shown are logged as check_in (alert_answer)
    list_part = RecordPart.LIST
    filterset_class = AlertFilter
    lookup_value_regex = UUID_PATTERN

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        acting_on = set(
            access.visible_to(
                request.user, Alert.objects.filter(pk__in=[alert.pk for alert in page]), "change"
            ).values_list("pk", flat=True)
        )
        return self.get_paginated_response(
            CheckInAlertSerializer(page, many=True, context={"acting_on": acting_on}).data
        )

    @extend_schema(responses=CheckInAlertDetailSerializer)
    def retrieve(self, request, pk=None):
        return self.alert_answer(self.get_object())

    def alert_answer(self, alert: Alert) -> Response:
        """The alert as the caller may see it; one that shows the answers goes in the access log."""
        view = selectors.alert_view(self.request.user, alert)
        if view.answer is not None or view.red_flags:
            patient_services.record_read(
                reader=self.request.user,
                patient=alert.patient,
                part=RecordPart.CHECK_IN,
                via=ReadVia.API,
                item=view.answer,
            )
        context = {"view": view, "acting_on": {alert.pk} if view.may_act else set()}
        return Response(CheckInAlertDetailSerializer(alert, context=context).data)

    # Who acts on an alert is the service's rule (clinical staff of its clinic); the
    # alert's "add" rule, which the object check would read for a POST, is nobody's.
    @extend_schema(request=AcknowledgeAlertSerializer, responses=CheckInAlertDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def acknowledge(self, request, pk=None):
        """Say someone is on it: the escalation clock stops. A second time changes nothing."""
        alert = self.get_object()
        acknowledge = AcknowledgeAlertSerializer(data=request.data)
        acknowledge.is_valid(raise_exception=True)
        services.acknowledge_alert(alert=alert, by=request.user, **acknowledge.validated_data)
        return self.alert_answer(self.get_queryset().get(pk=alert.pk))

    @extend_schema(request=ResolveAlertSerializer, responses=CheckInAlertDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def resolve(self, request, pk=None):
        """Close the alert with what was done (acknowledging it too, if nobody had)."""
        alert = self.get_object()
        resolve = ResolveAlertSerializer(data=request.data)
        resolve.is_valid(raise_exception=True)
        services.resolve_alert(alert=alert, by=request.user, **resolve.validated_data)
        return self.alert_answer(self.get_queryset().get(pk=alert.pk))


__all__ = ["AlertViewSet"]
