"""Patients: registration, details, intake, portal invitations. Parse, call a service, render."""

import uuid

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_clinics
from clinics.models import Clinic
from patients import safety, selectors, services
from patients.api.consent import ConsentTemplateSerializer
from patients.api.fhir import FhirAction
from patients.api.forms_request import SendFormsAction
from patients.api.idempotency import (
    HEADER_PARAMETER,
    as_seen_by,
    naming_the_header,
    submission_key,
)
from patients.api.merge import MergeAction
from patients.api.reads import LoggedReadMixin
from patients.api.safety import NoticeSerializer
from patients.api.screening import FlagSerializer, QuestionnaireSerializer
from patients.models import Intake, Patient, PatientInvitation, ReadVia, RecordPart
from patients.models.records import ActivityLevel, PainArea
from patients.selectors import ConsentState, ScreeningState

READS_NO_CLINICAL_ANSWERS = (
    "Your role does not read clinical answers: the intake is for clinical staff and the "
    "patient. The patient's flags are in their status."
)


class ClinicalStatusSerializer(serializers.Serializer):
    """Whether the patient may be needled today, and why not."""

    flags = FlagSerializer(
        many=True,
        allow_null=True,
        help_text="The contraindications found; null for roles that do not read clinical "
        "answers (the front desk), who read `before_the_needle` instead.",
    )
    screening_state = serializers.ChoiceField(
        choices=[
            ScreeningState.MISSING,
            ScreeningState.VALID,
            ScreeningState.EXPIRED,
            ScreeningState.CHANGED,
        ]
    )
    screening_valid_until = serializers.DateTimeField(allow_null=True)
    consent_state = serializers.ChoiceField(
        choices=[
            ConsentState.MISSING,
            ConsentState.VALID,
            ConsentState.OUTDATED,
            ConsentState.WITHDRAWN,
        ]
    )
    consent_counts = serializers.BooleanField(
        help_text="Whether the organisation lets an outdated consent still count."
    )


class PatientSerializer(serializers.ModelSerializer):
    # Text, not an e-mail field: "" (not recorded) is no e-mail address, and the schema
    # must say what the answer holds.
    email = serializers.CharField(read_only=True, help_text="Empty when not recorded.")
    has_portal_login = serializers.SerializerMethodField()
    status = ClinicalStatusSerializer(source="clinical_status", read_only=True)
    before_the_needle = serializers.SerializerMethodField(
        help_text="What to read before needling this patient, one line each with its page: open "
        "alerts (urgent first), adverse events under review, contraindications, screening and "
        "consent. The front desk gets readiness and next steps, never the clinical facts.",
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "home_clinic",
            *services.PATIENT_FIELDS,
            "has_portal_login",
            "version",
            "created_at",
            "status",
            "before_the_needle",
        ]
        read_only_fields = fields

    def get_has_portal_login(self, patient: Patient) -> bool:
        return patient.user_id is not None

    @extend_schema_field(NoticeSerializer(many=True))
    def get_before_the_needle(self, patient: Patient) -> list[dict]:
        return [notice.as_dict() for notice in patient.safety_summary.notices]

    def to_representation(self, patient: Patient) -> dict:
        data = super().to_representation(patient)
        if not patient.safety_summary.clinical:
            data["status"]["flags"] = None
        return data


class PatientInputSerializer(serializers.ModelSerializer):
    home_clinic = scoped_field(Clinic, lambda user: access.clinics_for(user, Patient, "add"))

    class Meta:
        model = Patient
        fields = ["home_clinic", *services.PATIENT_FIELDS]


def allow_duplicate_field() -> serializers.BooleanField:
    return serializers.BooleanField(
        default=False,
        write_only=True,
        help_text="Confirm that this is another person than the likely duplicates of an "
        "earlier 409 answer (code likely_duplicate: `matches`, the records you may open, each "
        "with its `reasons`; `elsewhere`, how many more at clinics you cannot see).",
    )


class RegisterPatientSerializer(PatientInputSerializer):
    allow_duplicate = allow_duplicate_field()

    class Meta(PatientInputSerializer.Meta):
        fields = [*PatientInputSerializer.Meta.fields, "allow_duplicate"]


class UpdatePatientSerializer(PatientInputSerializer):
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        write_only=True,
        help_text="The version you read; if someone saved since, the answer is 409.",
    )
    allow_duplicate = allow_duplicate_field()

    class Meta(PatientInputSerializer.Meta):
        fields = [*PatientInputSerializer.Meta.fields, "version", "allow_duplicate"]


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientInvitation
        fields = ["id", "email", "expires_at", "sent_at", "send_failed_at"]
        read_only_fields = fields


class SurgerySerializer(serializers.Serializer):
    description = serializers.CharField(max_length=200)
    performed_on = serializers.DateField()


class IntakeSerializer(serializers.ModelSerializer):
    surgeries = SurgerySerializer(source="patient.surgeries", many=True, read_only=True)

    class Meta:
        model = Intake
        fields = [
            "id",
            "patient",
            "presenting_complaint",
            "pain_areas",
            "conditions",
            "medications",
            "allergies",
            "activity_level",
            "goals",
            "surgeries",
            "channel",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


def _lines(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=200), default=list, help_text=help_text
    )


class SaveIntakeSerializer(serializers.Serializer):
    """The whole intake: what is left out is saved empty."""

    presenting_complaint = serializers.CharField()
    pain_areas = serializers.ListField(
        child=serializers.ChoiceField(choices=PainArea.choices), default=list
    )
    conditions = _lines("Medical conditions, one per item.")
    medications = _lines("Medications, one per item.")
    allergies = _lines("Allergies, one per item.")
    activity_level = serializers.ChoiceField(choices=ActivityLevel.choices)
    goals = serializers.CharField(allow_blank=True, default="")
    surgeries = SurgerySerializer(many=True, default=list)
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The version you read; if someone saved since, the answer is 409.",
    )


class ReportChangeSerializer(serializers.Serializer):
    note = serializers.CharField(allow_blank=True, default="")


class PatientFilter(filters.FilterSet):
    home_clinic = filters.ModelChoiceFilter(queryset=visible_clinics)

    class Meta:
        model = Patient
        fields = ["home_clinic"]


SEARCH_PARAMETER = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description="Search by name (misspellings and names that sound alike too), date of birth "
    "(2001-04-30 or 30/04/2001), e-mail or phone; the best "
    f"{selectors.SEARCH_LIMIT} matches, best first.",
)


def _kept_record(user, pk) -> Patient | None:
    """The record the one with id `pk` was merged into, if `user` may see it."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:  # the URL takes any 36 hex digits and dashes; not all are UUIDs
        return None
    return selectors.moved_to(user, pk)


class PatientViewSet(
    FhirAction,
    MergeAction,
    SendFormsAction,
    LoggedReadMixin,
    access.ScopedQuerysetMixin,
    viewsets.GenericViewSet,
):
    """Patients, each with their clinical status. Registered and edited, never deleted.

    A patient's own portal login reads their own record here, and nobody else's.
    """

    queryset = Patient.objects.select_related("home_clinic", "organization").order_by(
        "last_name", "first_name", "id"
    )
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    lookup_value_regex = UUID_PATTERN
    read_part = RecordPart.DETAILS
    list_part = RecordPart.LIST  # names, dates of birth, contact details and flags

    def get_object(self) -> Patient:
        """The patient; a record merged into another one says which, to those who may see it."""
        try:
            return super().get_object()
        except Http404:
            kept = _kept_record(self.request.user, self.kwargs.get("pk"))
            if kept is None:
                raise
            raise exceptions.NotFound(
                f"This record was merged into another record of the same patient, {kept.pk}: "
                "use that one."
            ) from None

    def get_serializer(self, *args, **kwargs):
        """The output serializer, each patient with their clinical status attached.

        The statuses of a whole page are read together: a fixed number of
        queries for any page size.
        """
        if args:
            patients = list(args[0]) if kwargs.get("many") else [args[0]]
            statuses = selectors.clinical_statuses(patients)
            summaries = safety.summaries_for(self.request.user, patients, statuses=statuses)
            for patient in patients:
                patient.clinical_status = statuses[patient.pk]
                patient.safety_summary = summaries[patient.pk]
        return super().get_serializer(*args, **kwargs)

    @extend_schema(parameters=[SEARCH_PARAMETER])
    def list(self, request):
        patients = self.filter_queryset(self.get_queryset())
        query = request.query_params.get("q", "")
        if query.strip():
            found = selectors.search_patients(request.user, query)
            kept = set(
                patients.filter(pk__in=[patient.pk for patient in found]).values_list(
                    "pk", flat=True
                )
            )
            patients = [patient for patient in found if patient.pk in kept]
        page = self.paginate_queryset(patients)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=RegisterPatientSerializer,
        responses={201: PatientSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request):
        key = submission_key(request)
        register = RegisterPatientSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        register.is_valid(raise_exception=True)
        with naming_the_header():
            patient = services.register_patient(
                by=request.user, submission_key=key, **register.validated_data
            )
        patient = as_seen_by(self.get_queryset(), patient, key)
        return Response(self.get_serializer(patient).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UpdatePatientSerializer, responses=PatientSerializer)
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=UpdatePatientSerializer, responses=PatientSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool):
        patient = self.get_object()
        change = UpdatePatientSerializer(
            patient, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        change.is_valid(raise_exception=True)
        changes = dict(change.validated_data)
        services.update_patient(
            patient=patient,
            by=request.user,
            expected_version=changes.pop("version", None),
            **changes,
        )
        return Response(self.get_serializer(self.get_object()).data)

    # The actions below answer 404 for a patient the caller cannot see (get_object);
    # what they may do with one they can see is the service's decision, because it
    # depends on the record (intake, screening, consent), not on the patient's rule.

    @extend_schema(request=None, responses={201: InvitationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def invite(self, request, pk=None):
        """E-mail the patient a portal invitation, to the address on their record."""
        patient = self.get_object()
        invitation = services.invite_patient(patient=patient, by=request.user)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=IntakeSerializer)
    @action(detail=True, methods=["get"], permission_classes=[access.LoggedInWithMfa])
    def intake(self, request, pk=None):
        patient = self.get_object()
        if not selectors.may(request.user, "view", Intake, patient):
            raise exceptions.PermissionDenied(READS_NO_CLINICAL_ANSWERS)
        intake = self._intake_of(patient)
        if intake is None:
            raise exceptions.NotFound("This patient has no intake yet.")
        services.record_read(
            reader=request.user, patient=patient, part=RecordPart.INTAKE, via=ReadVia.API
        )
        return Response(IntakeSerializer(intake).data)

    @extend_schema(request=SaveIntakeSerializer, responses=IntakeSerializer)
    @intake.mapping.put
    def save_intake(self, request, pk=None):
        patient = self.get_object()
        save = SaveIntakeSerializer(data=request.data)
        save.is_valid(raise_exception=True)
        fields = dict(save.validated_data)
        services.save_intake(
            patient=patient,
            by=request.user,
            expected_version=fields.pop("version", None),
            surgeries=[
                (surgery["description"], surgery["performed_on"])
                for surgery in fields.pop("surgeries")
            ],
            **fields,
        )
        return Response(IntakeSerializer(self._intake_of(patient)).data)

    def _intake_of(self, patient: Patient) -> Intake | None:
        return (
            access.visible_to(self.request.user, Intake.objects.filter(patient=patient))
            .select_related("patient")
            .prefetch_related("patient__surgeries")
            .first()
        )

    @extend_schema(request=ReportChangeSerializer, responses=PatientSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path="report-change",
        url_name="report-change",
        permission_classes=[access.LoggedInWithMfa],
    )
    def report_change(self, request, pk=None):
        """The patient's health changed: their screening stops being valid until answered again."""
        patient = self.get_object()
        report = ReportChangeSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        services.report_health_change(
            patient=patient, by=request.user, note=report.validated_data["note"]
        )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses=QuestionnaireSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path="screening-questionnaire",
        url_name="screening-questionnaire",
        permission_classes=[access.LoggedInWithMfa],
    )
    def screening_questionnaire(self, request, pk=None):
        """The questions this patient answers now: their organisation's current version."""
        patient = self.get_object()
        questionnaire = services.current_questionnaire(patient.organization)
        return Response(QuestionnaireSerializer(questionnaire).data)

    @extend_schema(responses=ConsentTemplateSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path="consent-template",
        url_name="consent-template",
        permission_classes=[access.LoggedInWithMfa],
    )
    def consent_template(self, request, pk=None):
        """The consent text this patient signs now: their organisation's current version."""
        patient = self.get_object()
        template = services.current_consent_template(patient.organization)
        return Response(ConsentTemplateSerializer(template).data)
