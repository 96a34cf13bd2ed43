"""Check-ins: when each falls due, and the patient's answers with how the triage read them.

A patient sees their own check-ins and answers one while it is open; clinical
staff see those of their clinics. The answer is shown to whoever may read it, and
every answer shown is written to the access log.
"""

from collections.abc import Mapping

from django.db.models import Case, Exists, OuterRef, Prefetch, Value, When
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aftercare import questions, triage
from aftercare.api.choices import named_choice_field
from aftercare.models import (
    Bruising,
    CheckIn,
    CheckInAnswer,
    Fatigue,
    Trend,
    Triage,
)
from aftercare.models.check_ins import COMMENTS_LIMIT
from aftercare.next_steps import emergency_steps, next_steps
from aftercare.services.check_ins import submit_check_in
from clinics import access
from clinics.api import UUID_PATTERN, visible_clinics
from patients import services as patient_services
from patients.api.idempotency import HEADER_PARAMETER, naming_the_header, submission_key
from patients.api.reads import LoggedResponsesMixin
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions.api.safety import visible_sessions

STATUSES = [
    ("due_later", "Not open yet: it opens when it falls due"),
    ("open", "Open: it takes answers now"),
    ("partly_answered", "A red flag reported; the rest is answered while it is open"),
    ("answered", "Answered"),
    ("closed", "Closed without a full answer (a red flag reported is still in red_flags)"),
]


def with_status(queryset, now):
    """Check-ins with `status`, read at `now` (the clock the services read, not the database's)."""
    answered = Exists(CheckInAnswer.objects.filter(check_in=OuterRef("pk")))
    return queryset.annotate(
        status=Case(
            When(answered, then=Value("answered")),
            When(
                red_flags_reported_at__isnull=False,
                due_at__lte=now,
                closes_at__gt=now,
                then=Value("partly_answered"),
            ),
            When(due_at__gt=now, then=Value("due_later")),
            When(closes_at__gt=now, then=Value("open")),
            default=Value("closed"),
        )
    )


# --- What a check-in shows ------------------------------------------------------------------


class AskedChoiceField(serializers.ChoiceField):
    """A choice the check-in may not have asked: null when it did not (stored empty)."""

    def to_representation(self, value):
        return None if value == "" else super().to_representation(value)


class CheckInAnswerSerializer(serializers.ModelSerializer):
    bruising = AskedChoiceField(
        choices=Bruising.choices,
        read_only=True,
        allow_null=True,
        help_text="Null when the check-in did not ask it: after a session without needling.",
    )

    class Meta:
        model = CheckInAnswer
        fields = ["id", "answered_at", *CheckInAnswer.ANSWERS, "triage", "triage_reasons"]
        read_only_fields = fields


class CheckInQuestionSerializer(serializers.Serializer):
    name = serializers.CharField(
        read_only=True, help_text="The answer's name, as the answer takes it (e.g. chest_pain)."
    )
    text = serializers.CharField(read_only=True, help_text="The question as the patient reads it.")


class CheckInSerializer(serializers.ModelSerializer):
    status = named_choice_field(
        STATUSES,
        component_name="CheckInStatusEnum",
        read_only=True,
        help_text="due_later, open (answer it now), partly_answered (a red flag reported, the "
        "rest to answer while it is open), answered, or closed without an answer.",
    )
    answer = CheckInAnswerSerializer(
        read_only=True, allow_null=True, help_text="Null until answered, or if you may not read it."
    )
    red_flags = serializers.SerializerMethodField(
        help_text="The red flags reported before the rest of the answers (chest_pain, "
        "short_of_breath): they raised the urgent alert then, and stay on the answer."
    )
    questions = serializers.SerializerMethodField(
        help_text="What this check-in asks, in order, each by the name its answer takes and "
        "in the words the patient reads. After a session with needling, every answer below; "
        "after one without, no bruising (nothing about where needles went in) and the signs "
        "of infection asked of the treated area."
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
            "red_flags",
            "red_flags_reported_at",
            "questions",
            "answer",
        ]
        read_only_fields = fields

    def get_red_flags(self, check_in: CheckIn) -> list[str]:
        return check_in.red_flags_reported

    @extend_schema_field(CheckInQuestionSerializer(many=True))
    def get_questions(self, check_in: CheckIn) -> list[dict]:
        return CheckInQuestionSerializer(questions.questions_of(check_in), many=True).data


class CheckInOutcomeSerializer(CheckInAnswerSerializer):
    """The answer as filed, with what the patient is to do now."""

    check_in = serializers.UUIDField(source="check_in_id", read_only=True)
    complete = serializers.SerializerMethodField(help_text="True: every answer is filed.")
    emergency_number = serializers.SerializerMethodField(
        help_text="When the triage is urgent: the number to call now (the clinic's). Null "
        "otherwise."
    )
    advice = serializers.SerializerMethodField(help_text="What to do now, for the patient.")

    class Meta(CheckInAnswerSerializer.Meta):
        fields = [
            "check_in",
            "complete",
            *CheckInAnswerSerializer.Meta.fields,
            "emergency_number",
            "advice",
        ]
        read_only_fields = fields

    def get_complete(self, answer: CheckInAnswer) -> bool:
        return True

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_emergency_number(self, answer: CheckInAnswer) -> str | None:
        return self._next_steps(answer).emergency_number

    def get_advice(self, answer: CheckInAnswer) -> str:
        return self._next_steps(answer).text

    def _next_steps(self, answer: CheckInAnswer):
        if not hasattr(self, "_steps"):
            self._steps = next_steps(answer, self.context["check_in"])
        return self._steps


class RedFlagsFiledSerializer(serializers.Serializer):
    """Chest pain or shortness of breath reported with other answers missing: filed at once,
    the urgent alert raised, and the emergency advice. The rest is answered later with the
    same POST (the red flags may then be left out)."""

    check_in = serializers.UUIDField(source="pk", read_only=True)
    complete = serializers.SerializerMethodField(help_text="False: answers are still missing.")
    red_flags = serializers.ListField(
        source="red_flags_reported",
        child=serializers.CharField(),
        read_only=True,
        help_text="The red flags filed: chest_pain, short_of_breath.",
    )
    red_flags_reported_at = serializers.DateTimeField(read_only=True)
    triage = serializers.SerializerMethodField(help_text="Always urgent.")
    triage_reasons = serializers.SerializerMethodField()
    emergency_number = serializers.SerializerMethodField(help_text="The number to call now.")
    advice = serializers.SerializerMethodField(help_text="What to do now, for the patient.")
    still_to_answer = serializers.SerializerMethodField(
        help_text="Each answer missing or not valid, with what is wrong (as `fields` in an error)."
    )

    def get_complete(self, check_in: CheckIn) -> bool:
        return False

    def get_triage(self, check_in: CheckIn) -> str:
        return Triage.URGENT

    def get_triage_reasons(self, check_in: CheckIn) -> list[str]:
        return list(triage.assess_red_flags(check_in.red_flags_reported).reasons)

    def get_emergency_number(self, check_in: CheckIn) -> str:
        return check_in.clinic.emergency_number

    def get_advice(self, check_in: CheckIn) -> str:
        return emergency_steps(check_in).text

    @extend_schema_field(
        serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    )
    def get_still_to_answer(self, check_in: CheckIn) -> dict:
        return {field: [problem] for field, problem in self.context["still_to_answer"].items()}


# --- What an answer takes --------------------------------------------------------------------


def _yes_no(help_text: str) -> serializers.BooleanField:
    return serializers.BooleanField(help_text=help_text)


def _score(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(help_text=f"0 to 10: {help_text}")


class AnswerCheckInSerializer(serializers.Serializer):
    chest_pain = _yes_no("Chest pain.")
    short_of_breath = _yes_no("Shortness of breath, or pain when breathing in.")
    infection_signs = _yes_no(
        "Redness, warmth, swelling or pus where a needle went in, or a fever; after a session "
        "without needling, redness, warmth or swelling in the treated area, or a fever."
    )
    nerve_symptoms = _yes_no("Tingling, numbness or burning that has not gone away.")
    soreness = _score("0 is none, 10 the worst imaginable.")
    pain = _score("pain from the problem they came in with, on the scale used before the session.")
    trend = serializers.ChoiceField(choices=Trend.choices, help_text="Symptoms since the session.")
    bruising = serializers.ChoiceField(
        choices=Bruising.choices,
        required=False,
        help_text="Bruising where the needles went in. Asked only after a session with needling "
        "(see the check-in's questions), and needed then; sent to a check-in that does not ask "
        "it, it is not kept.",
    )
    fatigue = serializers.ChoiceField(choices=Fatigue.choices)
    comments = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Up to {COMMENTS_LIMIT:,} characters: a longer text is refused, never cut.",
    )


def read_each(serializer: serializers.Serializer, data) -> dict:
    """Each answer `data` holds, read by its own field: those that read well. The service
    says what is wrong with the others, and what is missing."""
    if not isinstance(data, Mapping):
        raise serializers.ValidationError(
            {"non_field_errors": ["Send the answers as one JSON object, each by its name."]}
        )
    values = {}
    for name, field in serializer.fields.items():
        if name not in data:
            continue
        try:
            values[name] = field.run_validation(data[name])
        except serializers.ValidationError:
            values[name] = None
    return values


class CheckInFilter(filters.FilterSet):
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    session = filters.ModelChoiceFilter(queryset=visible_sessions)
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    status = filters.ChoiceFilter(choices=STATUSES)

    class Meta:
        model = CheckIn
        fields = ["patient", "session", "clinic", "status"]


class CheckInViewSet(
    LoggedResponsesMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Check-ins of signed sessions, the latest due first, each with its answer.

    The patient answers an open one (POST .../answer/). The answer is triaged at once;
    a red flag alerts the therapist and the clinic.
    """

    queryset = CheckIn.objects.select_related("patient", "clinic", "session").order_by(
        "-due_at", "id"
    )
    serializer_class = CheckInSerializer
    read_part = RecordPart.DETAILS
    list_part = RecordPart.LIST
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
            patients=[
                check_in.patient
                for check_in in page
                if answer_shown(check_in) or check_in.red_flags_reported
            ],
            part=RecordPart.CHECK_IN,
            via=ReadVia.API,
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        check_in = self.get_object()
        answer = answer_shown(check_in)
        if answer is not None or check_in.red_flags_reported:
            patient_services.record_read(
                reader=request.user,
                patient=check_in.patient,
                part=RecordPart.CHECK_IN,
                via=ReadVia.API,
                item=answer if answer is not None else check_in,
            )
        return Response(self.get_serializer(check_in).data)

    # Who answers is the service's rule (the patient, while it is open).
    @extend_schema(
        request=AnswerCheckInSerializer,
        responses={
            201: PolymorphicProxySerializer(
                component_name="CheckInSubmitted",
                serializers=[CheckInOutcomeSerializer, RedFlagsFiledSerializer],
                resource_type_field_name=None,
            )
        },
        parameters=[HEADER_PARAMETER],
        description="The patient's answers. Read at once: when urgent, the answer says to get "
        "emergency care now, with the number to call. Chest pain or shortness of breath "
        "answered true is filed and raises the urgent alert whatever else is missing: the "
        "answer (complete false) says to get emergency care now and lists what is still to "
        "answer, and the rest is sent later to this same check-in. A check-in is answered "
        "once; the same Idempotency-Key again answers with the first answer.",
    )
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def answer(self, request, pk=None):
        check_in = self.get_object()
        key = submission_key(request)
        given = read_each(AnswerCheckInSerializer(), request.data)
        with naming_the_header():
            submitted = submit_check_in(
                check_in=check_in, by=request.user, submission_key=key, **given
            )
        if submitted.answer is None:
            context = {"still_to_answer": submitted.still_to_answer}
            return Response(
                RedFlagsFiledSerializer(submitted.check_in, context=context).data,
                status=status.HTTP_201_CREATED,
            )
        return Response(
            CheckInOutcomeSerializer(submitted.answer, context={"check_in": check_in}).data,
            status=status.HTTP_201_CREATED,
        )


def answer_shown(check_in: CheckIn) -> CheckInAnswer | None:
    """The answer prefetched for the caller: None when there is none they may read."""
    try:
        return check_in.answer
    except CheckInAnswer.DoesNotExist:
        return None


__all__ = ["CheckInViewSet"]
