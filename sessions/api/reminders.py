"""/reminders/: where each booking's reminder e-mail stands, and what the patient answered.

Read-only: reminders are planned by booking and moving, sent by the worker and
answered from their links (sessions/services/reminders.py); nobody edits one.
Every staff role of the clinic reads them; each answer is written to the
access log, one line per patient on it.
"""

from django.db.models import F, Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers, viewsets

from clinics import access
from clinics.api import UUID_PATTERN, visible_clinics
from patients.api.reads import LoggedListMixin
from patients.api.references import visible_patients
from patients.models import RecordPart
from sessions.api.references import ClinicReferenceSerializer, PatientReferenceSerializer
from sessions.models import Reminder, ReminderAnswer, ReminderStatus, TreatmentSession


def visible_sessions(request):
    return access.visible_to(request.user, TreatmentSession.objects.all())


class ReminderSerializer(serializers.ModelSerializer):
    session = serializers.PrimaryKeyRelatedField(read_only=True)
    patient = PatientReferenceSerializer(read_only=True)
    clinic = ClinicReferenceSerializer(read_only=True)
    status = serializers.SerializerMethodField(
        help_text="planned: to be sent at due_at; sent; failed: not sent, last_send_error says "
        "why (a try to come at next_attempt_at when before the start); replaced: the booking "
        "was moved, so this one is never sent."
    )
    answer = serializers.ChoiceField(
        choices=ReminderAnswer.choices,
        allow_blank=True,
        read_only=True,
        help_text="What the patient pressed in the e-mail: confirmed, cancelled, or empty.",
    )
    confirmed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    cancelled_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Reminder
        fields = [
            "id",
            "session",
            "patient",
            "clinic",
            "for_starts_at",
            "due_at",
            "status",
            "sent_at",
            "send_attempts",
            "next_attempt_at",
            "last_send_error",
            "answer",
            "used_at",
            "confirmed_at",
            "cancelled_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ReminderStatus.choices))
    def get_status(self, reminder: Reminder) -> str:
        return reminder.status


STATUSES = {
    ReminderStatus.SENT: Q(sent_at__isnull=False),
    ReminderStatus.REPLACED: Q(sent_at__isnull=True) & ~Q(session__starts_at=F("for_starts_at")),
    ReminderStatus.FAILED: Q(sent_at__isnull=True, session__starts_at=F("for_starts_at"))
    & ~Q(last_send_error=""),
    ReminderStatus.PLANNED: Q(
        sent_at__isnull=True, session__starts_at=F("for_starts_at"), last_send_error=""
    ),
}
"""Each status as a filter: as Reminder.status works it out for one reminder."""


class ReminderFilter(filters.FilterSet):
    session = filters.ModelChoiceFilter(queryset=visible_sessions)
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    status = filters.ChoiceFilter(choices=ReminderStatus.choices, method="in_status")

    class Meta:
        model = Reminder
        fields = ["session", "patient", "clinic", "status"]

    def in_status(self, queryset, name, value: str):
        return queryset.filter(STATUSES[value])


class ReminderViewSet(
    LoggedListMixin,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Each booking's reminder e-mail: when it goes or went, and what the patient answered.

    Newest start first. A booking moved keeps its earlier reminder (`replaced`,
    never sent) beside the one for its new time.
    """

    queryset = Reminder.objects.select_related("session", "patient", "clinic").order_by(
        "-for_starts_at", "id"
    )
    serializer_class = ReminderSerializer
    read_part = RecordPart.DETAILS
    filterset_class = ReminderFilter
    lookup_value_regex = UUID_PATTERN
