"""Merging two records of one person through the API: an action on the patient kept."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from clinics.api import scoped_field
from patients.exceptions import NotPermitted
from patients.models import Patient, PatientMerge
from patients.services.merge import merge_patients


class MergeSerializer(serializers.Serializer):
    merge_away = scoped_field(
        Patient,
        lambda user: access.visible_to(user, Patient.objects.all()),
        help_text="The other record of the same person. Everything of it moves to this one; "
        "it stays as a pointer to this one, hidden from lists and search.",
    )
    reason = serializers.CharField(help_text="Why the two records are the same person.")


class PatientMergeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientMerge
        fields = [
            "id",
            "kept",
            "merged",
            "merged_by",
            "merged_at",
            "reason",
            "moved",
            "filled",
            "login_moved",
        ]
        read_only_fields = fields


class MergeAction:
    """For the patient viewset: POST /patients/{id}/merge/ keeps {id} and merges another into it."""

    @extend_schema(request=MergeSerializer, responses={201: PatientMergeSerializer})
    @action(detail=True, methods=["post"], permission_classes=[access.LoggedInWithMfa])
    def merge(self, request, pk=None):
        """Merge another record of the same person into this one (organisation admins).

        Everything of `merge_away` moves here; signed records move unchanged. A
        clash (two portal logins, two intakes, two sessions at one time...) is
        refused with 409 naming it, and nothing changes.
        """
        patient = self.get_object()
        if not access.can_add(request.user, PatientMerge, organization=patient.organization):
            raise NotPermitted(
                "Only an organisation admin may merge patient records: ask one to merge them."
            )
        merge = MergeSerializer(data=request.data, context=self.get_serializer_context())
        merge.is_valid(raise_exception=True)
        merged = merge_patients(
            keep=patient,
            merge_away=merge.validated_data["merge_away"],
            by=request.user,
            reason=merge.validated_data["reason"],
        )
        return Response(PatientMergeSerializer(merged).data, status=status.HTTP_201_CREATED)
