"""Recalls and reviews: who was needled with a lot (by site, or by patient with the notices
e-mailed to them), and the adverse events admins review.

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
from patients.api.reads import LoggedResponsesMixin
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions import selectors, services
from sessions.api.booking import visible_therapists
from sessions.api.references import (
    ClinicReferenceSerializer,
    MuscleEntrySerializer,
    PatientReferenceSerializer,
    SessionSummarySerializer,
    StaffNameSerializer,
)
from sessions.api.rows import AdverseEventSerializer
from sessions.exceptions import NotPermitted, RecallInvalid
from sessions.models import (
    AdverseEvent,
    AdverseEventKind,
    NeedleSite,
    NoticeStatus,
    RecallNotice,
    Severity,
    TreatmentSession,
)


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


class RecallSessionSiteSerializer(serializers.ModelSerializer):
    """A needle site of the lot, under its session in a patient's recall."""

    muscle = MuscleEntrySerializer(source="muscle_entry", read_only=True)

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
            "recorded_at",
        ]
        read_only_fields = fields


class RecallSiteSerializer(RecallSessionSiteSerializer):
    """A needle site of the lot, with its lot and session (the list of sites)."""

    session = SessionSummarySerializer(read_only=True)

    class Meta(RecallSessionSiteSerializer.Meta):
        fields = ["id", "lot_number", "session", *RecallSessionSiteSerializer.Meta.fields[1:]]
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


# --- Recall by patient, and the notices -------------------------------------------------


class RecallNoticeSerializer(serializers.ModelSerializer):
    sent_by = StaffNameSerializer(read_only=True, help_text="Who asked for it to be sent.")

    class Meta:
        model = RecallNotice
        fields = [
            "id",
            "status",
            "email",
            "sent_by",
            "requested_at",
            "sent_at",
            "failed_at",
            "last_error",
            "attempts",
        ]
        read_only_fields = fields


class RecallPatientDetailsSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    phone = serializers.CharField(read_only=True)
    date_of_birth = serializers.DateField(read_only=True)
    home_clinic = ClinicReferenceSerializer(read_only=True)


class RecallSessionSerializer(serializers.Serializer):
    session = SessionSummarySerializer(read_only=True)
    needles = serializers.IntegerField(read_only=True)
    sites = RecallSessionSiteSerializer(many=True, read_only=True)


class RecallPatientSerializer(serializers.Serializer):
    """A patient needled with the lot: contact details, sessions and sites, and the notice."""

    patient = RecallPatientDetailsSerializer(read_only=True)
    needles = serializers.IntegerField(read_only=True)
    call_instead = serializers.BooleanField(
        read_only=True, help_text="No e-mail address on the record: phone the patient."
    )
    sending_clinic = ClinicReferenceSerializer(
        read_only=True,
        help_text="The clinic that sends their notice: where they were first needled with the lot.",
    )
    may_notify = serializers.BooleanField(
        read_only=True,
        help_text="You may send (or retry) their notice: you work at the clinic that sends it.",
    )
    notice = RecallNoticeSerializer(
        read_only=True, allow_null=True, help_text="null: none sent, or not one you can see."
    )
    sessions = RecallSessionSerializer(many=True, read_only=True)


NOTICE_FILTER = OpenApiParameter(
    "notice",
    OpenApiTypes.STR,
    enum=["none", *NoticeStatus.values],
    description="Only the patients whose notice is in this state (none: not asked for).",
)


def _recall(request, lot_number) -> list[selectors.RecallPatient]:
    if not access.may_use(request.user, NeedleSite, "view"):
        raise NotPermitted(NO_RECALL)
    return selectors.recall_patients(request.user, services.checked_lot(lot_number))


def _log_patients(request, patients) -> None:
    patient_services.record_reads(
        reader=request.user, patients=patients, part=RecordPart.CHART, via=ReadVia.API
    )


class RecallPatientsView(generics.ListAPIView):
    """For a recall: the patients you can see needled with one lot, by name.

    Each with their contact details, every session (and its sites) that used
    the lot, and the recall notice sent to them. Each patient listed is a read
    of their chart in the access log.
    """

    queryset = NeedleSite.objects.none()  # the rows are patients, grouped by the selector
    serializer_class = RecallPatientSerializer
    filter_backends = []

    @extend_schema(parameters=[LOT_NUMBER, NOTICE_FILTER])
    def get(self, request):
        patients = _recall(request, request.query_params.get("lot_number", ""))
        state = request.query_params.get("notice")
        if state:
            if state not in ("none", *NoticeStatus.values):
                raise RecallInvalid(
                    f"notice: one of none, {', '.join(NoticeStatus.values)}.", field="notice"
                )
            patients = [
                item
                for item in patients
                if (item.notice.status if item.notice else "none") == state
            ]
        page = self.paginate_queryset(patients)
        _log_patients(request, [item.patient for item in page])
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class NotifySerializer(serializers.Serializer):
    lot_number = serializers.CharField(
        max_length=200, help_text="The needle lot number as printed on the box."
    )
    patients = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        help_text="Only these patients of the recall (ids); all of them when left out.",
    )


class NotifyOutcomeSerializer(serializers.Serializer):
    detail = serializers.CharField(source="message", read_only=True)
    lot_number = serializers.CharField(read_only=True)
    queued = PatientReferenceSerializer(many=True, read_only=True)
    already_notified = PatientReferenceSerializer(many=True, read_only=True)
    call_instead = PatientReferenceSerializer(many=True, read_only=True)
    another_clinic_sends = PatientReferenceSerializer(many=True, read_only=True)


class RecallNotifyView(generics.GenericAPIView):
    """E-mail the recall notice of a lot to its patients: each one once, ever.

    A patient already sent one (or with one on its way) is not sent another;
    a failed one, or one queued too long (its e-mail job lost), is tried again.
    Patients with no e-mail address are listed in `call_instead`; those whose
    notice another clinic sends (where they were first needled with the lot), in
    `another_clinic_sends`.
    """

    serializer_class = NotifySerializer

    @extend_schema(request=NotifySerializer, responses={202: NotifyOutcomeSerializer})
    def post(self, request):
        given = NotifySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        outcome = services.notify_recall(
            lot_number=given.validated_data["lot_number"],
            by=request.user,
            patients=given.validated_data.get("patients"),
        )
        _log_patients(request, outcome.patients)
        data = NotifyOutcomeSerializer(outcome).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


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
    LoggedResponsesMixin,
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
    read_part = RecordPart.CHART
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
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def review(self, request, pk=None):
        """Record an organisation admin's review of a suspected pneumothorax."""
        event = self.get_object()
        review = ReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        services.review_adverse_event(event=event, by=request.user, **review.validated_data)
        event = self.get_queryset().get(pk=event.pk)
        return Response(self.get_serializer(event).data, status=status.HTTP_201_CREATED)
