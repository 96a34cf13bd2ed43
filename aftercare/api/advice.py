"""The organisation's aftercare: versions of the advice, and the check-in settings.

Both belong to the whole organisation: clinical staff read them, organisation
admins publish a version or save the settings. Neither is ever deleted.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from aftercare import services
from aftercare.models import AftercareSettings, AftercareTemplate
from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_organizations
from clinics.models import Organization
from sessions.api.references import StaffNameSerializer


def _organization_field(model, action, **kwargs):
    return scoped_field(
        Organization, lambda user: access.organizations_for(user, model, action), **kwargs
    )


class OrganizationFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)


# --- The advice -------------------------------------------------------------------------


class AftercareTemplateSerializer(serializers.ModelSerializer):
    published_by = StaffNameSerializer(
        read_only=True, allow_null=True, help_text="Null for version 1 made from the defaults."
    )

    class Meta:
        model = AftercareTemplate
        fields = [
            "id",
            "organization",
            "needling",
            "version",
            "title",
            "body",
            "published_at",
            "published_by",
        ]
        read_only_fields = fields


class PublishAftercareTemplateSerializer(serializers.Serializer):
    organization = _organization_field(AftercareTemplate, "add")
    needling = serializers.BooleanField(
        default=True,
        help_text="True (the default): the advice for sessions with dry needling. False: for "
        "sessions without needling (manual therapy, exercise or education), versioned apart.",
    )
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(
        help_text="The advice every plan starts with. A blank line starts a new block; a line "
        "starting with '- ' is a point of a list."
    )


class AftercareTemplateFilter(OrganizationFilter):
    class Meta:
        model = AftercareTemplate
        fields = ["organization", "needling"]


class AftercareTemplateViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Versions of the aftercare advice. Organisation admins publish a new one; none changes.

    The advice for sessions with dry needling (`needling` true) and for sessions without
    (false) are versioned apart. Plans already issued keep the text they were issued with.
    """

    queryset = AftercareTemplate.objects.select_related("published_by").order_by(
        "organization_id", "-needling", "-version"
    )
    serializer_class = AftercareTemplateSerializer
    filterset_class = AftercareTemplateFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(
        request=PublishAftercareTemplateSerializer,
        responses={201: AftercareTemplateSerializer},
        description="Publish a new version of the advice for sessions with needling, or "
        "(needling false) without. The same title and text as the newest version of that "
        "advice is that version: it is answered, and nothing new is made.",
    )
    def create(self, request):
        publish = PublishAftercareTemplateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        publish.is_valid(raise_exception=True)
        template = services.publish_template(by=request.user, **publish.validated_data)
        return Response(AftercareTemplateSerializer(template).data, status=status.HTTP_201_CREATED)


# --- The settings -----------------------------------------------------------------------


class AftercareSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = AftercareSettings
        fields = ["id", "organization", "check_in_hours", "escalate_after_minutes"]
        read_only_fields = fields


def _hours(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Hours after signing at which the patient is asked how they are: one to "
        "six, each 1 to 336.",
        **kwargs,
    )


def _minutes(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(
        help_text="An urgent alert nobody has acknowledged by then is e-mailed to the clinic's "
        "managers: 5 to 1440 minutes.",
        **kwargs,
    )


class ChangeAftercareSettingsSerializer(serializers.Serializer):
    check_in_hours = _hours()
    escalate_after_minutes = _minutes()


class SaveAftercareSettingsSerializer(serializers.Serializer):
    """Fields left out keep the organisation's current value (or the default)."""

    organization = _organization_field(AftercareSettings, "change")
    check_in_hours = _hours(required=False)
    escalate_after_minutes = _minutes(required=False)


class AftercareSettingsFilter(OrganizationFilter):
    class Meta:
        model = AftercareSettings
        fields = ["organization"]


class AftercareSettingsViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """An organisation's check-in hours and escalation time, once an admin saved them.

    Until then the organisation uses the defaults (check-ins at 24, 48 and 72 hours;
    escalation after 30 minutes) and has no row here. New hours apply to sessions
    signed from then on; check-ins already scheduled keep theirs.
    """

    queryset = AftercareSettings.objects.select_related("organization").order_by(
        "organization__name", "id"
    )
    serializer_class = AftercareSettingsSerializer
    filterset_class = AftercareSettingsFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(
        request=SaveAftercareSettingsSerializer,
        responses={201: AftercareSettingsSerializer, 200: AftercareSettingsSerializer},
        description="Save an organisation's settings: 201 the first time, 200 after that. "
        "Fields left out keep their current value (at first, the defaults).",
    )
    def create(self, request):
        save = SaveAftercareSettingsSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        save.is_valid(raise_exception=True)
        data = dict(save.validated_data)
        organization = data.pop("organization")
        current = services.settings_of(organization)
        settings = services.save_settings(
            organization=organization,
            by=request.user,
            check_in_hours=data.get("check_in_hours", current.check_in_hours),
            escalate_after_minutes=data.get(
                "escalate_after_minutes", current.escalate_after_minutes
            ),
        )
        return Response(
            AftercareSettingsSerializer(settings).data,
            status=status.HTTP_201_CREATED if current._state.adding else status.HTTP_200_OK,
        )

    @extend_schema(request=ChangeAftercareSettingsSerializer, responses=AftercareSettingsSerializer)
    def update(self, request, pk=None):
        return self._change(request, partial=False)

    @extend_schema(request=ChangeAftercareSettingsSerializer, responses=AftercareSettingsSerializer)
    def partial_update(self, request, pk=None):
        return self._change(request, partial=True)

    def _change(self, request, *, partial: bool):
        settings = self.get_object()
        change = ChangeAftercareSettingsSerializer(data=request.data, partial=partial)
        change.is_valid(raise_exception=True)
        data = {
            "check_in_hours": settings.check_in_hours,
            "escalate_after_minutes": settings.escalate_after_minutes,
            **change.validated_data,
        }
        settings = services.save_settings(
            organization=settings.organization, by=request.user, **data
        )
        return Response(AftercareSettingsSerializer(settings).data)


__all__ = ["AftercareSettingsViewSet", "AftercareTemplateViewSet"]
