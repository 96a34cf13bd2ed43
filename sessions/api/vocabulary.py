"""What charts are written with: the muscle vocabulary and the chart templates.

The muscle list is an organisation's vocabulary: the shared defaults (a global
catalogue, not tenant data) and the muscles the organisation added. It is not a
router viewset: its rows are not all rows of one organisation's model.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.response import Response

from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_organizations
from clinics.models import Organization
from sessions import services
from sessions.api.references import MuscleEntrySerializer, StaffNameSerializer
from sessions.exceptions import NotPermitted
from sessions.models import ChartTemplate, Muscle, OrganizationMuscle
from sessions.muscles import REGIONS
from sessions.services import templates as template_services


def _organization_field(model, action, **kwargs):
    return scoped_field(
        Organization, lambda user: access.organizations_for(user, model, action), **kwargs
    )


# --- Muscles --------------------------------------------------------------------------


class MuscleSerializer(MuscleEntrySerializer):
    id = serializers.SerializerMethodField(help_text="Null for a muscle of the default list.")
    organization = serializers.SerializerMethodField(
        help_text="The organisation that added it; null for a muscle of the default list."
    )
    added_by = serializers.SerializerMethodField()

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_id(self, muscle):
        return str(muscle.pk) if isinstance(muscle, OrganizationMuscle) else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_organization(self, muscle):
        return str(muscle.organization_id) if isinstance(muscle, OrganizationMuscle) else None

    @extend_schema_field(StaffNameSerializer(allow_null=True))
    def get_added_by(self, muscle):
        if isinstance(muscle, OrganizationMuscle):
            return StaffNameSerializer(muscle.added_by).data
        return None


class MuscleQuerySerializer(serializers.Serializer):
    organization = _organization_field(
        OrganizationMuscle,
        "view",
        required=False,
        help_text="Whose vocabulary; needed only if you work for more than one organisation.",
    )
    region = serializers.ChoiceField(choices=list(REGIONS.items()), required=False)


class AddMuscleSerializer(serializers.Serializer):
    organization = _organization_field(OrganizationMuscle, "add")
    name = serializers.CharField(help_text="Up to 80 characters; its code is made from it.")
    region = serializers.ChoiceField(choices=list(REGIONS.items()))
    pneumothorax_risk = serializers.BooleanField(
        default=False,
        help_text="Needling it can reach the pleura: therapists then acknowledge the risk.",
    )


def vocabulary_owner(user, organization: Organization | None) -> Organization:
    """The organisation whose vocabulary `user` asked for, or the only one they chart for."""
    if organization is not None:
        return organization
    mine = list(access.organizations_for(user, OrganizationMuscle, "view")[:2])
    if not mine:
        raise NotPermitted(
            "The muscle vocabulary is for therapists, clinic managers and organisation admins."
        )
    if len(mine) > 1:
        raise serializers.ValidationError(
            {"organization": ["You work for more than one organisation: say whose vocabulary."]}
        )
    return mine[0]


class MuscleVocabularyView(generics.GenericAPIView):
    """The muscles a needle site can name: the default list and the organisation's additions."""

    serializer_class = MuscleSerializer
    filter_backends = []

    @extend_schema(parameters=[MuscleQuerySerializer], responses=MuscleSerializer(many=True))
    def get(self, request):
        query = MuscleQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        organization = vocabulary_owner(request.user, query.validated_data.get("organization"))
        region = query.validated_data.get("region")
        defaults = Muscle.objects.all()
        added = access.visible_to(
            request.user,
            OrganizationMuscle.objects.filter(organization=organization).select_related("added_by"),
        )
        if region:
            defaults, added = defaults.filter(region=region), added.filter(region=region)
        muscles = sorted([*defaults, *added], key=lambda muscle: (muscle.name.lower(), muscle.code))
        page = self.paginate_queryset(muscles)
        return self.get_paginated_response(MuscleSerializer(page, many=True).data)

    @extend_schema(request=AddMuscleSerializer, responses={201: MuscleSerializer})
    def post(self, request):
        """Add a muscle to the organisation's vocabulary (organisation admins)."""
        add = AddMuscleSerializer(data=request.data, context={"request": request})
        add.is_valid(raise_exception=True)
        muscle = services.add_muscle(by=request.user, **add.validated_data)
        return Response(MuscleSerializer(muscle).data, status=status.HTTP_201_CREATED)


# --- Chart templates --------------------------------------------------------------------


class ChartTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChartTemplate
        fields = [
            "id",
            "organization",
            "name",
            "complaint",
            "subjective_notes",
            "findings",
            "assessment",
            "plan",
            "is_active",
            "updated_at",
        ]
        read_only_fields = fields


def _template_text() -> serializers.CharField:
    return serializers.CharField(allow_blank=True, trim_whitespace=False, default="")


class ChangeChartTemplateSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Unique in the organisation, up to 100 characters.")
    complaint = _template_text()
    subjective_notes = _template_text()
    findings = _template_text()
    assessment = _template_text()
    plan = _template_text()
    is_active = serializers.BooleanField(default=True, help_text="Offered on new charts.")


class AddChartTemplateSerializer(ChangeChartTemplateSerializer):
    organization = _organization_field(ChartTemplate, "add")


class ChartTemplateFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)

    class Meta:
        model = ChartTemplate
        fields = ["organization", "is_active"]


class ChartTemplateViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Text a chart starts from. Clinical staff read them; organisation admins keep them.

    Never deleted (charts name the template they started from): made inactive instead.
    """

    queryset = ChartTemplate.objects.order_by("organization_id", "name", "id")
    serializer_class = ChartTemplateSerializer
    filterset_class = ChartTemplateFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=AddChartTemplateSerializer, responses={201: ChartTemplateSerializer})
    def create(self, request):
        add = AddChartTemplateSerializer(data=request.data, context=self.get_serializer_context())
        add.is_valid(raise_exception=True)
        template = template_services.create_chart_template(by=request.user, **add.validated_data)
        return Response(ChartTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChangeChartTemplateSerializer, responses=ChartTemplateSerializer)
    def update(self, request, pk=None):
        return self._change(request, partial=False)

    @extend_schema(request=ChangeChartTemplateSerializer, responses=ChartTemplateSerializer)
    def partial_update(self, request, pk=None):
        return self._change(request, partial=True)

    def _change(self, request, *, partial: bool):
        template = self.get_object()
        change = ChangeChartTemplateSerializer(data=request.data, partial=partial)
        change.is_valid(raise_exception=True)
        template = template_services.update_chart_template(
            template=template, by=request.user, **change.validated_data
        )
        return Response(ChartTemplateSerializer(template).data)


__all__ = ["ChartTemplateViewSet", "MuscleVocabularyView"]
