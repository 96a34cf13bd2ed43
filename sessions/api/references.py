"""How answers name the people, clinics and sessions a chart row belongs to."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sessions.models import Status, TreatmentSession
from sessions.muscles import REGIONS


class StaffNameSerializer(serializers.Serializer):
    """A member of staff, by id and name."""

    id = serializers.UUIDField(read_only=True)
    full_name = serializers.CharField(source="get_full_name", read_only=True)


class PatientReferenceSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    full_name = serializers.CharField(read_only=True)


class ClinicReferenceSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


class SessionSummarySerializer(serializers.ModelSerializer):
    """The session a row belongs to: when, where, whom, by whom."""

    date = serializers.SerializerMethodField(help_text="The day of the session at its clinic.")
    clinic = ClinicReferenceSerializer(read_only=True)
    patient = PatientReferenceSerializer(read_only=True)
    therapist = StaffNameSerializer(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)

    class Meta:
        model = TreatmentSession
        fields = ["id", "date", "starts_at", "status", "clinic", "patient", "therapist"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateField())
    def get_date(self, session: TreatmentSession):
        return timezone.localtime(session.starts_at, session.clinic.zone).date().isoformat()


class MuscleEntrySerializer(serializers.Serializer):
    """A muscle of the vocabulary: the shared default list or one the organisation added."""

    code = serializers.SlugField(read_only=True, help_text="What a needle site names.")
    name = serializers.CharField(read_only=True)
    region = serializers.ChoiceField(choices=list(REGIONS.items()), read_only=True)
    pneumothorax_risk = serializers.BooleanField(
        read_only=True, help_text="Needling it can reach the pleura: the risk is acknowledged."
    )
