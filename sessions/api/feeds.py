"""Calendar feeds in the API: `calendar-feeds`, a therapist's private iCalendar addresses.

A therapist makes and revokes their own; organisation admins and the managers of the
clinics they work at list and revoke them. The address is in the answer that makes the
feed, and nowhere after: only the secret's SHA-256 is kept.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_organizations
from clinics.models import Organization
from sessions.api.booking import visible_therapists
from sessions.api.references import StaffNameSerializer
from sessions.models import CalendarFeed
from sessions.services import feeds


class CalendarFeedSerializer(serializers.ModelSerializer):
    therapist = StaffNameSerializer(read_only=True)
    created_by = StaffNameSerializer(read_only=True, allow_null=True)
    revoked_by = StaffNameSerializer(read_only=True, allow_null=True)
    is_active = serializers.BooleanField(read_only=True, help_text="Not revoked.")

    class Meta:
        model = CalendarFeed
        fields = [
            "id",
            "organization",
            "therapist",
            "name",
            "is_active",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields


class NewCalendarFeedSerializer(CalendarFeedSerializer):
    url = serializers.CharField(
        read_only=True,
        help_text="The feed's address, to subscribe to in a calendar app. Shown in this "
        "answer only: Fascia keeps a fingerprint of it, not the address.",
    )

    class Meta(CalendarFeedSerializer.Meta):
        fields = [*CalendarFeedSerializer.Meta.fields, "url"]
        read_only_fields = fields


class CreateCalendarFeedSerializer(serializers.Serializer):
    organization = scoped_field(
        Organization,
        feeds.therapist_organizations,
        help_text="An organisation where you are a therapist: the feed holds your bookings there.",
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="Where it is used, such as Phone: to tell your feeds apart.",
    )


class CalendarFeedFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)
    therapist = filters.ModelChoiceFilter(queryset=visible_therapists)
    is_active = filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", help_text="Not revoked."
    )

    class Meta:
        model = CalendarFeed
        fields = ["organization", "therapist", "is_active"]


class CalendarFeedViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Therapists' private calendar feeds (iCalendar, RFC 5545) of their bookings: patients by
    initials only, no notes. A therapist sees and revokes their own; organisation admins
    and the managers of the therapist's clinics see and revoke them too. Never deleted:
    revoked, after which the address answers 404."""

    queryset = CalendarFeed.objects.select_related(
        "therapist", "created_by", "revoked_by"
    ).order_by("-created_at", "id")
    serializer_class = CalendarFeedSerializer
    filterset_class = CalendarFeedFilter
    lookup_value_regex = UUID_PATTERN
    # Who may revoke is the service's question (the therapist, or a manager of theirs).
    permission_classes = [access.LoggedInWithMfa]

    @extend_schema(request=CreateCalendarFeedSerializer, responses={201: NewCalendarFeedSerializer})
    def create(self, request):
        """Make a feed of your own bookings. The answer holds its address, this once."""
        add = CreateCalendarFeedSerializer(data=request.data, context=self.get_serializer_context())
        add.is_valid(raise_exception=True)
        feed, secret = feeds.create_calendar_feed(
            therapist=request.user, by=request.user, **add.validated_data
        )
        feed.url = feeds.feed_url(secret)
        return Response(NewCalendarFeedSerializer(feed).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=CalendarFeedSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke the feed: its address answers 404 from now on. Revoking it again changes
        nothing."""
        feed = self.get_object()
        feeds.revoke_calendar_feed(feed=feed, by=request.user)
        return Response(CalendarFeedSerializer(feed).data)
