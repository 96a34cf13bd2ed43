"""Consent texts, signatures and withdrawals: parse, call a service, render.

Signatures are evidence: the API records and withdraws them, never edits or
deletes them (there are no PUT, PATCH or DELETE routes).
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import client
from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_organizations
from clinics.models import Organization
from patients import selectors, services
from patients.api.idempotency import (
    HEADER_PARAMETER,
    as_seen_by,
    naming_the_header,
    submission_key,
)
from patients.api.reads import LoggedListMixin
from patients.api.references import form_field, patient_field, visible_patients
from patients.models import ConsentSignature, ConsentTemplate, RecordPart


class ConsentTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentTemplate
        fields = ["id", "organization", "version", "title", "body", "published_at"]
        read_only_fields = fields


class PublishConsentTemplateSerializer(serializers.Serializer):
    organization = scoped_field(
        Organization, lambda user: access.organizations_for(user, ConsentTemplate, "add")
    )
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(help_text="The text patients read and sign.")


class ConsentTemplateFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)

    class Meta:
        model = ConsentTemplate
        fields = ["organization"]


class ConsentTemplateViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Versions of the consent text. Organisation admins publish a new version; none changes."""

    queryset = ConsentTemplate.objects.order_by("organization_id", "-version")
    serializer_class = ConsentTemplateSerializer
    filterset_class = ConsentTemplateFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(
        request=PublishConsentTemplateSerializer, responses={201: ConsentTemplateSerializer}
    )
    def create(self, request):
        publish = PublishConsentTemplateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        publish.is_valid(raise_exception=True)
        template = services.publish_consent_template(by=request.user, **publish.validated_data)
        return Response(ConsentTemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class ConsentSignatureSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(
        help_text="standing: consent rests on it; withdrawn: it, or consent, was withdrawn; "
        "replaced: a later signature replaced it."
    )
    withdrawn_at = serializers.DateTimeField(
        source="withdrawal.withdrawn_at", read_only=True, allow_null=True
    )
    withdrawal_reason = serializers.CharField(
        source="withdrawal.reason", read_only=True, allow_null=True
    )

    class Meta:
        model = ConsentSignature
        fields = [
            "id",
            "patient",
            "template",
            "template_version",
            "text",
            "text_sha256",
            "signer_name",
            "guardian_relationship",
            "signed_at",
            "channel",
            "ip_address",
            "user_agent",
            "recorded_by",
            "state",
            "withdrawn_at",
            "withdrawal_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["standing", "withdrawn", "replaced"]))
    def get_state(self, signature: ConsentSignature) -> str:
        states = self.context.get("states")
        if states is None or signature.pk not in states:
            states = selectors.signature_states([signature])
        return states[signature.pk]

    @classmethod
    def many_init(cls, *args, **kwargs):
        # A page of signatures: their states in one go, not a query per row.
        if args:
            kwargs.setdefault("context", {})["states"] = selectors.signature_states(list(args[0]))
        return super().many_init(*args, **kwargs)


class SignConsentSerializer(serializers.Serializer):
    patient = patient_field()
    template = form_field(
        ConsentTemplate, help_text="The version the signer read: it must be the current one."
    )
    signer_name = serializers.CharField(
        max_length=200, help_text="The full name the signer typed (the guardian's, for a minor)."
    )
    guardian_relationship = serializers.CharField(
        max_length=100,
        allow_blank=True,
        default="",
        help_text="Required when the patient is under 18: the guardian's relationship to them.",
    )


class WithdrawConsentSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="")


class ConsentSignatureFilter(filters.FilterSet):
    patient = filters.ModelChoiceFilter(queryset=visible_patients)

    class Meta:
        model = ConsentSignature
        fields = ["patient"]


class ConsentSignatureViewSet(
    LoggedListMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Signed consents: the exact text, its hash, who signed, when and how; and withdrawals."""

    queryset = ConsentSignature.objects.select_related("withdrawal").order_by("-signed_at", "id")
    serializer_class = ConsentSignatureSerializer
    filterset_class = ConsentSignatureFilter
    lookup_value_regex = UUID_PATTERN
    read_part = RecordPart.CONSENT

    @extend_schema(
        request=SignConsentSerializer,
        responses={201: ConsentSignatureSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request):
        key = submission_key(request)
        sign = SignConsentSerializer(data=request.data, context=self.get_serializer_context())
        sign.is_valid(raise_exception=True)
        patient = sign.validated_data["patient"]
        with naming_the_header():
            signature = services.sign_consent(
                by=request.user,
                **sign.validated_data,
                ip_address=client.client_ip(request),
                user_agent=client.user_agent(request),
                submission_key=key,
            )
        signature = as_seen_by(self.get_queryset(), signature, key, patient=patient)
        return Response(ConsentSignatureSerializer(signature).data, status=status.HTTP_201_CREATED)

    # The service decides who may withdraw (staff, or the patient themself);
    # the object check of the default permission knows only the signature's rule.
    @extend_schema(request=WithdrawConsentSerializer, responses=ConsentSignatureSerializer)
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def withdraw(self, request, pk=None):
        signature = self.get_object()
        withdraw = WithdrawConsentSerializer(data=request.data)
        withdraw.is_valid(raise_exception=True)
        services.withdraw_consent(signature=signature, by=request.user, **withdraw.validated_data)
        signature = self.get_queryset().get(pk=signature.pk)
        return Response(ConsentSignatureSerializer(signature).data)
