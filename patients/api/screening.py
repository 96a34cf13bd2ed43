"""Screening questionnaires and the patients' answers: parse, call a service, render."""

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_organizations
from clinics.models import Organization
from patients import services
from patients.api.idempotency import (
    HEADER_PARAMETER,
    as_seen_by,
    naming_the_header,
    submission_key,
)
from patients.api.reads import LoggedListMixin
from patients.api.references import form_field, patient_field, visible_patients
from patients.contraindications import Contraindication, Severity, severity_of
from patients.models import (
    Question,
    Questionnaire,
    RecordPart,
    ScreeningAnswer,
    ScreeningResponse,
)
from patients.selectors import Flag


class FlagSerializer(serializers.Serializer):
    contraindication = serializers.ChoiceField(choices=Contraindication.choices)
    label = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)


class QuestionSerializer(serializers.ModelSerializer):
    contraindication = serializers.ChoiceField(
        choices=Contraindication.choices,
        allow_blank=True,
        read_only=True,
        help_text="The flag a yes raises; empty for a question asked for information only.",
    )

    class Meta:
        model = Question
        fields = ["id", "key", "position", "text", "help_text", "contraindication"]
        read_only_fields = fields


class QuestionnaireSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Questionnaire
        fields = ["id", "organization", "version", "title", "published_at", "questions"]
        read_only_fields = fields


class QuestionInputSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=50)
    text = serializers.CharField(max_length=500)
    help_text = serializers.CharField(max_length=500, allow_blank=True, default="")
    contraindication = serializers.ChoiceField(
        choices=Contraindication.choices,
        allow_blank=True,
        default="",
        help_text="The flag a yes raises; empty for a question asked for information only.",
    )


class PublishQuestionnaireSerializer(serializers.Serializer):
    organization = scoped_field(
        Organization, lambda user: access.organizations_for(user, Questionnaire, "add")
    )
    title = serializers.CharField(max_length=200)
    questions = QuestionInputSerializer(many=True)


class QuestionnaireFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)

    class Meta:
        model = Questionnaire
        fields = ["organization"]


class ScreeningQuestionnaireViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Versions of the screening questions. Organisation admins publish new ones; none changes."""

    queryset = Questionnaire.objects.prefetch_related("questions").order_by(
        "organization_id", "-version"
    )
    serializer_class = QuestionnaireSerializer
    filterset_class = QuestionnaireFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=PublishQuestionnaireSerializer, responses={201: QuestionnaireSerializer})
    def create(self, request):
        publish = PublishQuestionnaireSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        publish.is_valid(raise_exception=True)
        questionnaire = services.publish_questionnaire(by=request.user, **publish.validated_data)
        questionnaire = self.get_queryset().get(pk=questionnaire.pk)
        return Response(QuestionnaireSerializer(questionnaire).data, status=status.HTTP_201_CREATED)


class ScreeningAnswerSerializer(serializers.ModelSerializer):
    key = serializers.SlugField(source="question.key", read_only=True)
    text = serializers.CharField(source="question.text", read_only=True)

    class Meta:
        model = ScreeningAnswer
        fields = ["question", "key", "text", "answer", "detail"]
        read_only_fields = fields


class ScreeningResponseSerializer(serializers.ModelSerializer):
    questionnaire_version = serializers.IntegerField(source="questionnaire.version", read_only=True)
    flags = serializers.SerializerMethodField()
    answers = ScreeningAnswerSerializer(many=True, read_only=True)

    class Meta:
        model = ScreeningResponse
        fields = [
            "id",
            "patient",
            "questionnaire",
            "questionnaire_version",
            "flags",
            "channel",
            "submitted_at",
            "valid_until",
            "change_reported_at",
            "change_note",
            "answers",
        ]
        read_only_fields = fields

    @extend_schema_field(FlagSerializer(many=True))
    def get_flags(self, response: ScreeningResponse) -> list:
        flags = [Flag(flag, severity_of(flag)) for flag in response.flags]
        return FlagSerializer(flags, many=True).data


class AnswerInputSerializer(serializers.Serializer):
    question = serializers.UUIDField()
    answer = serializers.BooleanField(help_text="true for yes, false for no.")
    detail = serializers.CharField(max_length=500, allow_blank=True, default="")


class SubmitScreeningSerializer(serializers.Serializer):
    patient = patient_field()
    questionnaire = form_field(
        Questionnaire, help_text="The version the answers are for: it must be the current one."
    )
    answers = AnswerInputSerializer(many=True, help_text="One answer to every question.")

    def validate_answers(self, answers: list[dict]) -> list[dict]:
        seen = set()
        for answer in answers:
            if answer["question"] in seen:
                raise serializers.ValidationError(
                    f"Question {answer['question']} is answered twice."
                )
            seen.add(answer["question"])
        return answers


class ScreeningResponseFilter(filters.FilterSet):
    patient = filters.ModelChoiceFilter(queryset=visible_patients)

    class Meta:
        model = ScreeningResponse
        fields = ["patient"]


class ScreeningResponseViewSet(
    LoggedListMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """A patient's answers to the screening, and the flags they raise. Never edited.

    Clinical staff and the patient themself read them; the front desk sees only
    the flags, on the patient.
    """

    queryset = (
        ScreeningResponse.objects.select_related("questionnaire")
        .prefetch_related(
            Prefetch("answers", queryset=ScreeningAnswer.objects.select_related("question"))
        )
        .order_by("-submitted_at", "id")
    )
    serializer_class = ScreeningResponseSerializer
    filterset_class = ScreeningResponseFilter
    lookup_value_regex = UUID_PATTERN
    read_part = RecordPart.SCREENING

    @extend_schema(
        request=SubmitScreeningSerializer,
        responses={201: ScreeningResponseSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request):
        key = submission_key(request)
        submit = SubmitScreeningSerializer(data=request.data, context=self.get_serializer_context())
        submit.is_valid(raise_exception=True)
        patient = submit.validated_data["patient"]
        with naming_the_header():
            response = services.submit_screening(
                patient=patient,
                by=request.user,
                questionnaire=submit.validated_data["questionnaire"],
                answers={
                    answer["question"]: (answer["answer"], answer["detail"])
                    for answer in submit.validated_data["answers"]
                },
                submission_key=key,
            )
        response = as_seen_by(self.get_queryset(), response, key, patient=patient)
        return Response(ScreeningResponseSerializer(response).data, status=status.HTTP_201_CREATED)
