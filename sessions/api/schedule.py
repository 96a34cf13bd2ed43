"""The calendar's makings in the API: appointment types, availability, changes, free slots.

- `appointment-types`: what an organisation offers (organisation admins keep them);
- `availability`: each therapist's weekly working hours at a clinic;
- `availability-changes`: one-off changes (away, extra hours, the clinic closed);
- `slots`: the next free slots for a type at a clinic (sessions.availability).
"""

import datetime
import re

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.models import User
from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_clinics, visible_organizations
from clinics.models import Clinic, Organization
from patients.api.references import patient_field
from sessions import availability
from sessions.api.booking import AwareDateTimeField, therapists_for, visible_therapists
from sessions.api.references import StaffNameSerializer
from sessions.models import AppointmentType, ScheduleChange, TreatmentSession, WorkingHours
from sessions.services import schedule

# --- Appointment types ------------------------------------------------------------------


class AppointmentTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AppointmentType
        fields = [
            "id",
            "organization",
            "name",
            "minutes",
            "needling",
            "colour",
            "bookable_online",
            "is_active",
            "updated_at",
        ]
        read_only_fields = fields


class ChangeAppointmentTypeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Unique in the organisation, up to 100 characters.")
    minutes = serializers.IntegerField(help_text="The length: 5 to 240 minutes.")
    needling = serializers.BooleanField(
        default=True,
        help_text="Includes dry needling: needs screening, consent and a therapist with a "
        "current credential.",
    )
    colour = serializers.CharField(
        default="#2f6f8f", help_text="Its colour in the calendar: # and six hexadecimal digits."
    )
    bookable_online = serializers.BooleanField(
        default=False, help_text="Patients may book it in the portal."
    )
    is_active = serializers.BooleanField(default=True, help_text="Offered for new bookings.")


class AddAppointmentTypeSerializer(ChangeAppointmentTypeSerializer):
    organization = scoped_field(
        Organization, lambda user: access.organizations_for(user, AppointmentType, "add")
    )


class AppointmentTypeFilter(filters.FilterSet):
    organization = filters.ModelChoiceFilter(queryset=visible_organizations)

    class Meta:
        model = AppointmentType
        fields = ["organization", "is_active", "needling", "bookable_online"]


class AppointmentTypeViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The kinds of appointment an organisation offers. Every staff role reads them;
    organisation admins keep them. Never deleted (bookings name them): made inactive."""

    queryset = AppointmentType.objects.order_by("organization_id", "name", "id")
    serializer_class = AppointmentTypeSerializer
    filterset_class = AppointmentTypeFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=AddAppointmentTypeSerializer, responses={201: AppointmentTypeSerializer})
    def create(self, request):
        add = AddAppointmentTypeSerializer(data=request.data, context=self.get_serializer_context())
        add.is_valid(raise_exception=True)
        made = schedule.create_appointment_type(by=request.user, **add.validated_data)
        return Response(AppointmentTypeSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChangeAppointmentTypeSerializer, responses=AppointmentTypeSerializer)
    def update(self, request, pk=None):
        return self._change(request, partial=False)

    @extend_schema(request=ChangeAppointmentTypeSerializer, responses=AppointmentTypeSerializer)
    def partial_update(self, request, pk=None):
        return self._change(request, partial=True)

    def _change(self, request, *, partial: bool):
        appointment_type = self.get_object()
        change = ChangeAppointmentTypeSerializer(data=request.data, partial=partial)
        change.is_valid(raise_exception=True)
        changed = schedule.update_appointment_type(
            appointment_type=appointment_type, by=request.user, **change.validated_data
        )
        return Response(AppointmentTypeSerializer(changed).data)


# --- Working hours ----------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"})
class ClockTimeField(serializers.TimeField):
    """A time of day on the clinic's clock, as people write it: 08:30 (no offset: the clinic's
    zone gives it, whatever the day's)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise serializers.ValidationError("Give a time of day as HH:MM, such as 08:30.")
        return super().to_internal_value(value)


class WorkingHoursSerializer(serializers.ModelSerializer):
    therapist = StaffNameSerializer(read_only=True)
    starts = ClockTimeField(read_only=True)
    ends = ClockTimeField(read_only=True)

    class Meta:
        model = WorkingHours
        fields = ["id", "clinic", "therapist", "weekday", "starts", "ends"]
        read_only_fields = fields


class ChangeWorkingHoursSerializer(serializers.Serializer):
    starts = ClockTimeField(help_text="On the clinic's clock, such as 08:30.")
    ends = ClockTimeField(help_text="Later the same day.")


def _keeps(model):
    return lambda user: access.clinics_for(user, model, "add")


class AddWorkingHoursSerializer(ChangeWorkingHoursSerializer):
    clinic = scoped_field(Clinic, _keeps(WorkingHours))
    therapist = scoped_field(User, therapists_for)
    weekday = serializers.ChoiceField(
        choices=WorkingHours._meta.get_field("weekday").choices,
        help_text="0 for Monday to 6 for Sunday.",
    )


class WorkingHoursFilter(filters.FilterSet):
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    therapist = filters.ModelChoiceFilter(queryset=visible_therapists)

    class Meta:
        model = WorkingHours
        fields = ["clinic", "therapist", "weekday"]


class AvailabilityViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Weekly working hours: a therapist at a clinic on a weekday, from and to (the clinic's
    clock). A break is the gap between two rows of a day. Every staff role reads them;
    organisation admins and the clinic's managers keep them."""

    queryset = WorkingHours.objects.select_related("therapist").order_by(
        "clinic_id", "therapist_id", "weekday", "starts", "id"
    )
    serializer_class = WorkingHoursSerializer
    filterset_class = WorkingHoursFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=AddWorkingHoursSerializer, responses={201: WorkingHoursSerializer})
    def create(self, request):
        add = AddWorkingHoursSerializer(data=request.data, context=self.get_serializer_context())
        add.is_valid(raise_exception=True)
        made = schedule.add_working_hours(by=request.user, **add.validated_data)
        return Response(WorkingHoursSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChangeWorkingHoursSerializer, responses=WorkingHoursSerializer)
    def update(self, request, pk=None):
        hours = self.get_object()
        change = ChangeWorkingHoursSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        changed = schedule.change_working_hours(
            hours=hours, by=request.user, **change.validated_data
        )
        return Response(WorkingHoursSerializer(changed).data)

    def destroy(self, request, pk=None):
        schedule.remove_working_hours(hours=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Schedule changes -------------------------------------------------------------------


class ScheduleChangeSerializer(serializers.ModelSerializer):
    therapist = StaffNameSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ScheduleChange
        fields = [
            "id",
            "clinic",
            "therapist",
            "kind",
            "starts_at",
            "ends_at",
            "reason",
            "recorded_at",
        ]
        read_only_fields = fields


class AddScheduleChangeSerializer(serializers.Serializer):
    clinic = scoped_field(Clinic, _keeps(ScheduleChange))
    kind = serializers.ChoiceField(choices=ScheduleChange._meta.get_field("kind").choices)
    therapist = scoped_field(
        User,
        therapists_for,
        required=False,
        allow_null=True,
        default=None,
        help_text="Who is away or works extra; left out for a clinic closure.",
    )
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()
    reason = serializers.CharField(allow_blank=True, default="", max_length=200)


class ScheduleChangeFilter(filters.FilterSet):
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    therapist = filters.ModelChoiceFilter(queryset=visible_therapists)
    ends_after = filters.IsoDateTimeFilter(field_name="ends_at", lookup_expr="gt")
    starts_before = filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")

    class Meta:
        model = ScheduleChange
        fields = ["clinic", "therapist", "kind", "ends_after", "starts_before"]


class AvailabilityChangeViewSet(
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """One-off changes to the working hours: a therapist away or working extra, or the clinic
    closed. Added and removed, never changed; bookings already made stay."""

    queryset = ScheduleChange.objects.select_related("therapist").order_by("starts_at", "id")
    serializer_class = ScheduleChangeSerializer
    filterset_class = ScheduleChangeFilter
    lookup_value_regex = UUID_PATTERN

    @extend_schema(request=AddScheduleChangeSerializer, responses={201: ScheduleChangeSerializer})
    def create(self, request):
        add = AddScheduleChangeSerializer(data=request.data, context=self.get_serializer_context())
        add.is_valid(raise_exception=True)
        made = schedule.add_schedule_change(by=request.user, **add.validated_data)
        return Response(ScheduleChangeSerializer(made).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        schedule.remove_schedule_change(change=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Free slots -------------------------------------------------------------------------


FURTHEST = datetime.timedelta(days=366)


class SlotQuerySerializer(serializers.Serializer):
    clinic = scoped_field(Clinic, lambda user: access.clinics_for(user, TreatmentSession, "add"))
    appointment_type = scoped_field(
        AppointmentType,
        lambda user: access.visible_to(user, AppointmentType.objects.filter(is_active=True)),
    )
    therapist = scoped_field(User, therapists_for, required=False, default=None)
    patient = patient_field(
        required=False,
        default=None,
        help_text="Leave out the times this patient is booked elsewhere.",
    )
    starting = AwareDateTimeField(
        required=False, default=None, help_text="From when to look; now when left out."
    )
    days = serializers.IntegerField(
        min_value=1, max_value=62, default=14, help_text="How many days ahead to look: 1 to 62."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=20, help_text="At most this many slots: 1 to 100."
    )

    def validate_starting(self, starting):
        if starting is not None and abs(starting - timezone.now()) > FURTHEST:
            raise serializers.ValidationError("Look from a time within a year of now.")
        return starting


class SlotSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    therapist = StaffNameSerializer()


SLOT_PARAMETERS = [
    OpenApiParameter("clinic", OpenApiTypes.UUID, required=True),
    OpenApiParameter("appointment_type", OpenApiTypes.UUID, required=True),
    OpenApiParameter("therapist", OpenApiTypes.UUID, description="Only this therapist's slots."),
    OpenApiParameter(
        "patient", OpenApiTypes.UUID, description="Leave out times the patient is booked."
    ),
    OpenApiParameter(
        "starting",
        OpenApiTypes.DATETIME,
        description="From when to look, with its UTC offset; now when left out.",
    ),
    OpenApiParameter("days", OpenApiTypes.INT, description="Days ahead to look: 1 to 62 (14)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many: 1 to 100 (20)."),
]


class SlotsView(generics.GenericAPIView):
    """The next free slots for an appointment type at a clinic, earliest first: in working
    hours, outside schedule changes and bookings, on the quarter hour; for a needling type
    only with therapists whose credential is current. A slot may still be taken by someone
    else before you book it: the booking is then refused as double booked."""

    serializer_class = SlotSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(parameters=SLOT_PARAMETERS, responses=SlotSerializer(many=True))
    def get(self, request):
        query = SlotQuerySerializer(
            data=request.query_params, context=self.get_serializer_context()
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        # Never in the past: a search from then looks its days ahead from now.
        starting = max(data["starting"] or timezone.now(), timezone.now())
        slots = availability.free_slots(
            data["clinic"],
            appointment_type=data["appointment_type"],
            starts_at=starting,
            ends_at=starting + datetime.timedelta(days=data["days"]),
            therapist=data["therapist"],
            patient_id=data["patient"].pk if data["patient"] else None,
            limit=data["limit"],
        )
        return Response(SlotSerializer([slot.as_dict() for slot in slots], many=True).data)
