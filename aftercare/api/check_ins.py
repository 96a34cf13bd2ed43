"""Check-ins: when each falls due, and the patient's answers with how the triage read them.

A patient sees their own check-ins and answers one while it is open; clinical
staff see those of their clinics. The answer is shown to whoever may read it, and
every answer shown is written to the access log.
"""

from django.db.models import Case, Exists, OuterRef, Prefetch, Value, When
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aftercare import services
from aftercare.api.choices import named_choice_field
from aftercare.models import (
    Bruising,
    CheckIn,
    CheckInAnswer,
    Fatigue,
    Trend,
)
from aftercare.next_steps import next_steps
from clinics import access
from clinics.api import UUID_PATTERN, visible_clinics
from patients import services as patient_services
from patients.api.idempotency import HEADER_PARAMETER, naming_the_header, submission_key
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions.api.safety import visible_sessions

STATUSES = [
    ("due_later", "Not open yet: it opens when it falls due"),
    ("open", "Open: it takes answers now"),
    ("answered", "Answered"),
    ("closed", "Closed without an answer"),
]


def with_status(queryset, now):
    """Check-ins with `status`, read at `now` (the clock the services read, not the database's)."""
    answered = Exists(CheckInAnswer.objects.filter(check_in=OuterRef("pk")))
    return queryset.annotate(
        status=Case(
            When(answered, then=Value("answered")),
            When(due_at__gt=now, then=Value("due_later")),
            When(closes_at__gt=now, then=Value("open")),
            default=Value("closed"),
        )
    )


# --- What a check-in shows ------------------------------------------------------------------


class CheckInAnswerSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckInAnswer
        fields = ["id", "answered_at", *CheckInAnswer.ANSWERS, "triage", "triage_reasons"]
        read_only_fields = fields


class CheckInSerializer(serializers.ModelSerializer):
    status = named_choice_field(
        STATUSES,
        component_name="CheckInStatusEnum",
        read_only=True,
        help_text="due_later, open (answer it now), answered, or closed without an answer.",
    )
    answer = CheckInAnswerSerializer(
        read_only=True, allow_null=True, help_text="Null until answered, or if you may not read it."
    )

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "session",
            "patient",
            "clinic",
            "hours_after",
            "due_at",
            "closes_at",
            "sent_at",
            "status",
            "answer",
        ]
        read_only_fields = fields


class CheckInOutcomeSerializer(CheckInAnswerSerializer):
    """The answer as filed, with what the patient is to do now."""

    check_in = serializers.UUIDField(source="check_in_id", read_only=True)
    emergency_number = serializers.SerializerMethodField(
        help_text="When the triage is urgent: the number to call now (the clinic's). Null "
        "otherwise."
    )
    advice = serializers.SerializerMethodField(help_text="What to do now, for the patient.")

    class Meta(CheckInAnswerSerializer.Meta):
        fields = ["check_in", *CheckInAnswerSerializer.Meta.fields, "emergency_number", "advice"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_emergency_number(self, answer: CheckInAnswer) -> str | None:
        return self._next_steps(answer).emergency_number

    def get_advice(self, answer: CheckInAnswer) -> str:
        return self._next_steps(answer).text

    def _next_steps(self, answer: CheckInAnswer):
        if not hasattr(self, "_steps"):
            self._steps = next_steps(answer, self.context["check_in"])
        return self._steps


# --- What an answer takes --------------------------------------------------------------------


def _yes_no(help_text: str) -> serializers.BooleanField:
    return serializers.BooleanField(help_text=help_text)


def _score(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(help_text=f"0 to 10: {help_text}")


class AnswerCheckInSerializer(serializers.Serializer):
    chest_pain = _yes_no("Chest pain.")
    short_of_breath = _yes_no("Shortness of breath, or pain when breathing in.")
    infection_signs = _yes_no(
        "Redness, warmth, swelling or pus where a needle went in, or a fever."
    )
    nerve_symptoms = _yes_no("Tingling, numbness or burning that has not gone away.")
    soreness = _score("0 is none, 10 the worst imaginable.")
    pain = _score("pain from the problem they came in with, on the scale used before the session.")
    trend = serializers.ChoiceField(choices=Trend.choices, help_text="Symptoms since the session.")
    bruising = serializers.ChoiceField(choices=Bruising.choices)
    fatigue = serializers.ChoiceField(choices=Fatigue.choices)
    comments = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Up to 5,000 characters."
    )


class CheckInFilter(filters.FilterSet):
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    session = filters.ModelChoiceFilter(queryset=visible_sessions)
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    status = filters.ChoiceFilter(choices=STATUSES)

    class Meta:
        model = CheckIn
        fields = ["patient", "session", "clinic", "status"]


class CheckInViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Check-ins of signed sessions, the latest due first, each with its answer.

    The patient answers an open one (POST .../answer/). The answer is triaged at once;
    a red flag alerts the therapist and the clinic.
    """

    queryset = CheckIn.objects.select_related("patient", "clinic").order_by("-due_at", "id")
    serializer_class = CheckInSerializer
    filterset_class = CheckInFilter
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        answers = access.visible_to(self.request.user, CheckInAnswer.objects.all())
        return with_status(
            super().get_queryset().prefetch_related(Prefetch("answer", queryset=answers)),
            timezone.now(),
        )

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        patient_services.record_reads(
            reader=request.user,
            patients=[check_in.patient for check_in in page if answer_shown(check_in)],
            part=RecordPart.CHECK_IN,
            via=ReadVia.API,
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        check_in = self.get_object()
        answer = answer_shown(check_in)
        if answer is not None:
            patient_services.record_read(
                reader=request.user,
                patient=check_in.patient,
                part=RecordPart.CHECK_IN,
                via=ReadVia.API,
                item=answer,
            )
        return Response(self.get_serializer(check_in).data)

    # Who answers is the service's rule (the patient, while it is open).
    @extend_schema(
        request=AnswerCheckInSerializer,
        responses={201: CheckInOutcomeSerializer},
        parameters=[HEADER_PARAMETER],
        description="The patient's answers. Read at once: when urgent, the answer says to get "
        "emergency care now, with the number to call. A check-in is answered once; the same "
        "Idempotency-Key again answers with the first answer.",
    )
    @action(detail=True, methods=["post"], permission_classes=[access.IsStaffWithMfa])
    def answer(self, request, pk=None):
        check_in = self.get_object()
        key = submission_key(request)
        answers = AnswerCheckInSerializer(data=request.data)
        answers.is_valid(raise_exception=True)
        with naming_the_header():
            filed = services.answer_check_in(
                check_in=check_in, by=request.user, submission_key=key, **answers.validated_data
            )
        return Response(
            CheckInOutcomeSerializer(filed, context={"check_in": check_in}).data,
            status=status.HTTP_201_CREATED,
        )


def answer_shown(check_in: CheckIn) -> CheckInAnswer | None:
    """The answer prefetched for the caller: None when there is none they may read."""
    try:
        return check_in.answer
    except CheckInAnswer.DoesNotExist:
        return None


__all__ = ["CheckInViewSet"]
