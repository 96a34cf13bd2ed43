"""API for clinics and staff roles: parse, call a service, render."""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from clinics import access, security_log, services
from clinics.models import Clinic, Membership, Organization, Role, SecurityEvent

UUID_PATTERN = "[0-9a-fA-F-]{36}"
NOT_VISIBLE = "No {model} with id {{pk_value}} that you can see."


def scoped_field(model, queryset_for, **kwargs) -> serializers.PrimaryKeyRelatedField:
    """A reference to another row, limited to what the requesting user may use."""

    @extend_schema_field(OpenApiTypes.UUID)
    class ScopedField(serializers.PrimaryKeyRelatedField):
        def get_queryset(self):
            return queryset_for(self.context["request"].user)

    message = NOT_VISIBLE.format(model=model._meta.verbose_name)
    return ScopedField(error_messages={"does_not_exist": message}, **kwargs)


def visible_organizations(request):
    return access.visible_to(request.user, Organization.objects.all())


def visible_clinics(request):
    return access.visible_to(request.user, Clinic.objects.all())


class ClinicFilter(filters.FilterSet):
    # Choices come from what the user may see: another organisation's id is
    # refused exactly like an unknown one.
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)

    class Meta:
        model = Clinic
        fields = ["organization", "is_active"]


class StaffRoleFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)

    class Meta:
        model = Membership
        fields = ["organization", "clinic", "role"]


class ClinicSerializer(serializers.ModelSerializer):
    organization = scoped_field(
        Organization, lambda user: access.organizations_for(user, Clinic, "add")
    )

    class Meta:
        model = Clinic
        fields = [
            "id",
            "organization",
            "name",
            "address",
            "phone",
            "emergency_number",
            "timezone",
            "is_active",
        ]
        read_only_fields = ["id"]


class ClinicUpdateSerializer(ClinicSerializer):
    organization = serializers.PrimaryKeyRelatedField(read_only=True)


class ClinicViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Clinic sites. Organisation admins add them, managers edit theirs; none is deleted."""

    queryset = Clinic.objects.all()
    serializer_class = ClinicSerializer
    filterset_class = ClinicFilter
    lookup_value_regex = UUID_PATTERN

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ClinicUpdateSerializer
        return ClinicSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_clinic(
            organization=data.pop("organization"), by=self.request.user, **data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_clinic(
            clinic=serializer.instance, by=self.request.user, **serializer.validated_data
        )


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]


class StaffRoleSerializer(serializers.ModelSerializer):
    user = PersonSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "organization", "clinic", "role", "user", "created_at"]
        read_only_fields = fields


class GrantRoleSerializer(serializers.Serializer):
    organization = scoped_field(
        Organization, lambda user: access.organizations_for(user, Membership, "add")
    )
    clinic = scoped_field(
        Clinic,
        lambda user: access.clinics_for(user, Membership, "add"),
        allow_null=True,
        required=False,
        help_text="Empty for an organisation admin.",
    )
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(help_text="The person's login; someone new is invited.")
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class StaffRoleViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who holds which role where. A role is granted (POST) or removed (DELETE), never edited."""

    queryset = Membership.objects.select_related("user").order_by("created_at", "id")
    serializer_class = StaffRoleSerializer
    filterset_class = StaffRoleFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=GrantRoleSerializer, responses={201: StaffRoleSerializer})
    def create(self, request):
        grant = GrantRoleSerializer(data=request.data, context={"request": request})
        grant.is_valid(raise_exception=True)
        membership = services.grant_role(by=request.user, **grant.validated_data)
        return Response(StaffRoleSerializer(membership).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_role(membership=instance, by=self.request.user)


class RoleSerializer(serializers.Serializer):
    organization = serializers.UUIDField(source="organization_id")
    clinic = serializers.UUIDField(source="clinic_id", allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    roles = RoleSerializer(many=True)


class MeView(APIView):
    """The logged-in user and the roles they hold."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        user = request.user
        data = {
            "id": user.id,
            "email": user.email,
            "full_name": user.full_name,
            "roles": access.grants_of(user),
        }
        return Response(MeSerializer(data).data)


class SecurityEventSerializer(serializers.ModelSerializer):
    user = PersonSerializer(read_only=True, allow_null=True)
    by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = SecurityEvent
        fields = [
            "id",
            "event_id",
            "organization",
            "kind",
            "occurred_at",
            "user",
            "email",
            "by",
            "ip_address",
            "user_agent",
            "detail",
        ]
        read_only_fields = fields


class SecurityEventViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The security log: logins, refused codes, password changes, roles, API tokens.

    Organisation admins read their organisation's, newest first; nobody writes it.
    The page (/clinics/security-log/) downloads the same filters as CSV.
    """

    queryset = SecurityEvent.objects.select_related("user", "by").order_by("-occurred_at", "-id")
    serializer_class = SecurityEventSerializer
    filterset_class = security_log.SecurityEventFilter
    lookup_value_regex = UUID_PATTERN
