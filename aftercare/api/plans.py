"""Aftercare plans: the therapist's draft while the session is charted, the plan issued at signing.

Staff of the clinic see drafts and issued plans; a patient sees their own plans
once issued, never a draft. Every page or plan shown is written to the access log.
"""

from django.db.models import F, Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aftercare import services
from aftercare.api.choices import named_choice_field
from aftercare.models import AftercarePlan, HeatOrIce, PlanExercise, PlanStatus
from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_clinics
from patients import services as patient_services
from patients.api.idempotency import HEADER_PARAMETER, naming_the_header, submission_key
from patients.api.reads import LoggedResponsesMixin
from patients.api.references import visible_patients
from patients.models import ReadVia, RecordPart
from sessions.api.references import StaffNameSerializer
from sessions.api.safety import visible_sessions
from sessions.models import TreatmentSession

# --- What a plan shows --------------------------------------------------------------------


class PlanExerciseSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanExercise
        fields = ["id", "position", "name", "sets", "reps", "hold_seconds", "frequency", "notes"]
        read_only_fields = fields


class AftercarePlanSerializer(serializers.ModelSerializer):
    status = named_choice_field(
        PlanStatus.choices,
        component_name="PlanStatusEnum",
        read_only=True,
        help_text="draft while the session is charted; issued (and never changed) once signed.",
    )
    therapist = StaffNameSerializer(source="session.therapist", read_only=True)
    exercises = PlanExerciseSerializer(many=True, read_only=True)
    issued_by = StaffNameSerializer(read_only=True, allow_null=True)
    read_at = serializers.DateTimeField(
        source="read.read_at",
        read_only=True,
        allow_null=True,
        help_text="When the patient first marked the plan as read; null until then.",
    )
    updated_by = StaffNameSerializer(read_only=True, allow_null=True)
    needling = serializers.BooleanField(
        source="session.needling",
        read_only=True,
        help_text="The session included dry needling. False: manual therapy, exercise or "
        "education only; the advice is the organisation's for sessions without needling, "
        "and no muscle was needled.",
    )

    class Meta:
        model = AftercarePlan
        fields = [
            "id",
            "session",
            "patient",
            "clinic",
            "therapist",
            "status",
            "heat_or_ice",
            "activity_limits",
            "next_visit",
            "other_advice",
            "exercises",
            "title",
            "advice",
            "template_version",
            "needling",
            "needled_muscles",
            "issued_at",
            "issued_by",
            "read_at",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = fields


# --- What a plan takes ---------------------------------------------------------------------


def _text(help_text: str) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, help_text=help_text)


class SavePlanSerializer(serializers.Serializer):
    """The therapist's additions; those left out stay as they are."""

    session = scoped_field(
        TreatmentSession,
        lambda user: access.visible_to(user, TreatmentSession.objects.all()),
        help_text="A session in progress: its draft plan is made the first time.",
    )
    heat_or_ice = serializers.ChoiceField(
        choices=HeatOrIce.choices,
        required=False,
        allow_blank=True,
        error_messages={
            "invalid_choice": "Choose one of "
            + ", ".join(value for value in HeatOrIce.values if value)
            + ", or leave it empty (as the advice says); not “{input}”."
        },
    )
    activity_limits = _text("What to avoid, and for how long. Up to 10,000 characters.")
    next_visit = _text("When to come back. Up to 200 characters.")
    other_advice = _text("Up to 10,000 characters.")


class AddExerciseSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="e.g. Doorway pectoral stretch; up to 200 characters.")
    frequency = serializers.CharField(help_text="e.g. Twice a day; up to 100 characters.")
    sets = serializers.IntegerField(required=False, allow_null=True, help_text="1 to 20.")
    reps = serializers.IntegerField(required=False, allow_null=True, help_text="1 to 100.")
    hold_seconds = serializers.IntegerField(
        required=False, allow_null=True, help_text="1 to 600 seconds."
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class AftercarePlanFilter(filters.FilterSet):
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    session = filters.ModelChoiceFilter(queryset=visible_sessions)
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    status = filters.ChoiceFilter(choices=PlanStatus.choices)

    class Meta:
        model = AftercarePlan
        fields = ["patient", "session", "clinic", "status"]


EXERCISE_ID = OpenApiParameter("exercise_id", OpenApiTypes.UUID, location=OpenApiParameter.PATH)


class AftercarePlanViewSet(
    LoggedResponsesMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Aftercare plans with their exercises: drafts first, then issued ones, newest first.

    A draft is written while its session is in progress (POST, .../exercises/); signing
    the session issues it, and from then on it never changes. The patient marks it read.
    """

    queryset = AftercarePlan.objects.select_related(
        "patient", "session__therapist", "issued_by", "updated_by", "read"
    ).order_by(F("issued_at").desc(nulls_first=True), "-updated_at", "id")
    serializer_class = AftercarePlanSerializer
    read_part = RecordPart.AFTERCARE
    filterset_class = AftercarePlanFilter
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        exercises = access.visible_to(
            self.request.user, PlanExercise.objects.order_by("position", "id")
        )
        return super().get_queryset().prefetch_related(Prefetch("exercises", queryset=exercises))

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        patient_services.record_reads(
            reader=request.user,
            patients=[plan.patient for plan in page],
            part=RecordPart.AFTERCARE,
            via=ReadVia.API,
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        plan = self.get_object()
        patient_services.record_read(
            reader=request.user,
            patient=plan.patient,
            part=RecordPart.AFTERCARE,
            via=ReadVia.API,
            item=plan,
        )
        return Response(self.get_serializer(plan).data)

    def the_plan(self, plan: AftercarePlan) -> AftercarePlan:
        """`plan` read again as the caller sees it, with its exercises and read receipt."""
        return self.get_queryset().get(pk=plan.pk)

    @extend_schema(
        request=SavePlanSerializer,
        responses={201: AftercarePlanSerializer, 200: AftercarePlanSerializer},
        description="Save the therapist's additions to a session's draft plan (201 when this "
        "makes the draft, 200 after that). Refused once the session is signed (409 "
        "plan_issued) or before it is started (409 session_state).",
    )
    def create(self, request):
        save = SavePlanSerializer(data=request.data, context=self.get_serializer_context())
        save.is_valid(raise_exception=True)
        changes = dict(save.validated_data)
        session = changes.pop("session")
        had_a_draft = AftercarePlan.objects.filter(session=session).exists()
        plan = services.save_plan(session=session, by=request.user, **changes)
        return Response(
            AftercarePlanSerializer(self.the_plan(plan)).data,
            status=status.HTTP_200_OK if had_a_draft else status.HTTP_201_CREATED,
        )

    # Who writes a plan is the service's rule (clinical staff of the session's clinic,
    # before signing), not the plan's "add" rule; and only the patient reads it.
    @extend_schema(
        request=AddExerciseSerializer,
        responses={201: PlanExerciseSerializer},
        parameters=[HEADER_PARAMETER],
        description="Add a home stretch or exercise to the draft plan. Sent again with the "
        "same Idempotency-Key, the answer is the exercise the first request made.",
    )
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def exercises(self, request, pk=None):
        plan = self.get_object()
        key = submission_key(request)
        add = AddExerciseSerializer(data=request.data)
        add.is_valid(raise_exception=True)
        with naming_the_header():
            exercise = services.add_exercise(
                session=plan.session, by=request.user, submission_key=key, **add.validated_data
            )
        return Response(PlanExerciseSerializer(exercise).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[EXERCISE_ID],
        description="Take an exercise off the draft plan (kept in its history). An issued "
        "plan keeps every exercise: 409.",
    )
    def remove_exercise(self, request, pk=None, exercise_id=None):
        plan = self.get_object()
        exercise = (
            access.visible_to(request.user, PlanExercise.objects.filter(plan=plan, pk=exercise_id))
            .select_related("plan__session")
            .first()
        )
        if exercise is None:
            raise exceptions.NotFound(f"No exercise with id {exercise_id} in this plan.")
        services.remove_exercise(exercise=exercise, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses=AftercarePlanSerializer,
        description="The patient says they have read the plan: only the first time is kept "
        "(read_at), and their therapist sees it.",
    )
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def read(self, request, pk=None):
        plan = self.get_object()
        services.mark_plan_read(plan=plan, by=request.user)
        return Response(AftercarePlanSerializer(self.the_plan(plan)).data)


__all__ = ["AftercarePlanViewSet"]
