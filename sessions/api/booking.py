"""The sessions API: booking, starting, cancelling; the chart's actions come from chart.py."""

import datetime
import zoneinfo

from django.db.models import Q
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import User
from clinics import access
from clinics.api import UUID_PATTERN, scoped_field, visible_clinics
from clinics.models import Clinic
from clinics.selectors import therapists_of
from patients import safety
from patients.api.idempotency import HEADER_PARAMETER, naming_the_header, submission_key
from patients.api.reads import LoggedResponsesMixin
from patients.api.references import patient_field, visible_patients
from patients.api.safety import NoticeSerializer
from patients.models import RecordPart
from sessions import clock, services
from sessions.api.chart import ChartActions
from sessions.models import WAITING_FOR_THE_NEEDLE, AppointmentType, Status, TreatmentSession


def visible_therapists(request):
    """Therapists of the clinics the caller sees (a filter's choices, and who may be booked)."""
    return therapists_for(request.user)


def therapists_for(user):
    clinics = access.visible_to(user, Clinic.objects.all())
    return therapists_of(clinics=clinics)


class SessionFilter(filters.FilterSet):
    clinic = filters.ModelChoiceFilter(queryset=visible_clinics)
    therapist = filters.ModelChoiceFilter(queryset=visible_therapists)
    patient = filters.ModelChoiceFilter(queryset=visible_patients)
    date = filters.DateFilter(
        method="on_date", help_text="Sessions starting on this day at their clinic."
    )
    from_date = filters.DateFilter(
        method="from_day",
        help_text="Sessions starting on this day or later at their clinic (with to_date: "
        "a calendar's range).",
    )
    to_date = filters.DateFilter(
        method="to_day", help_text="Sessions starting on this day or earlier at their clinic."
    )
    status = filters.ChoiceFilter(choices=Status.choices)

    class Meta:
        model = TreatmentSession
        fields = ["clinic", "therapist", "patient", "date", "from_date", "to_date", "status"]

    def on_date(self, queryset, name, day: datetime.date):
        return self.from_day(self.to_day(queryset, name, day), name, day)

    def from_day(self, queryset, name, day: datetime.date):
        return _on_clinic_clock(queryset, lambda zone: Q(starts_at__gte=_midnight(day, zone)))

    def to_day(self, queryset, name, day: datetime.date):
        after = day + datetime.timedelta(days=1)
        return _on_clinic_clock(queryset, lambda zone: Q(starts_at__lt=_midnight(after, zone)))


def _midnight(day: datetime.date, zone) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


def _on_clinic_clock(queryset, condition):
    """`queryset` filtered by `condition(zone)` for the sessions of each clinic's time zone:
    days are the clinic's, midnight to midnight on its clock, as Python's time zone data
    reckons it (the same data every page shows times with).

    The zones are those of the clinics the caller's organisations run (row-level
    security keeps to them): a few rows, where the zones of the sessions themselves
    took a scan of every session the caller may see. A zone without sessions adds a
    condition that matches none."""
    zones = Clinic.objects.order_by().values_list("timezone", flat=True).distinct()
    chosen = Q(pk__in=[])
    for zone_name in zones:
        chosen |= Q(clinic__timezone=zone_name) & condition(zoneinfo.ZoneInfo(zone_name))
    return queryset.filter(chosen)


class SessionSerializer(serializers.ModelSerializer):
    can_start_today = serializers.SerializerMethodField(
        help_text="Booked, and today on its clinic's clock is its day: its therapist may start "
        "it now (the safety gate still asks for consent, screening and the rest)."
    )
    start_refusal = serializers.SerializerMethodField(
        help_text="For a booked session of another day, why it cannot be started today (what "
        "starting it answers); null otherwise."
    )
    before_the_needle = serializers.SerializerMethodField(
        help_text="For a booked session or one in progress, what to read about the patient "
        "first: open alerts (urgent first), adverse events under review, contraindications, "
        "screening and consent, one line each with its page. The front desk gets readiness "
        "and next steps, never the clinical facts. Empty for other sessions."
    )
    readiness = serializers.SerializerMethodField(
        help_text="The same in a few words, as the day list marks the booking: Ready, "
        "Screening needed, Consent needed, Contraindication, Open alert... Empty for sessions "
        "neither booked nor in progress."
    )

    class Meta:
        model = TreatmentSession
        fields = [
            "id",
            "clinic",
            "patient",
            "therapist",
            "starts_at",
            "ends_at",
            "status",
            "booked_at",
            "booked_by",
            "booked_online",
            "confirmed_at",
            "cancelled_at",
            "cancellation_reason",
            "cancelled_late",
            "no_show_at",
            "no_show_reason",
            "started_at",
            "needling",
            "appointment_type",
            "outside_hours_reason",
            "series",
            "can_start_today",
            "start_refusal",
            "before_the_needle",
            "readiness",
            "version",
        ]
        read_only_fields = fields

    def _summary(self, session: TreatmentSession) -> safety.Summary | None:
        if session.status not in WAITING_FOR_THE_NEEDLE:
            return None
        known = self.context.get("safety") or {}
        if (session.clinic_id, session.patient_id) in known:
            return known[session.clinic_id, session.patient_id].for_session(session)
        summary = safety.summary_of(
            self.context["request"].user, session.patient, clinic=session.clinic
        )
        return summary.for_session(session)

    @extend_schema_field(NoticeSerializer(many=True))
    def get_before_the_needle(self, session: TreatmentSession) -> list[dict]:
        summary = self._summary(session)
        return [notice.as_dict() for notice in summary.notices] if summary else []

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_readiness(self, session: TreatmentSession) -> list[str]:
        summary = self._summary(session)
        return [mark for _, mark, _ in summary.marks] if summary else []

    def get_can_start_today(self, session: TreatmentSession) -> bool:
        return clock.may_start_today(session)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_start_refusal(self, session: TreatmentSession) -> str | None:
        return clock.start_day_refusal(session)


class AwareDateTimeField(serializers.DateTimeField):
    """A time with its UTC offset: without one, which clinic's clock would it be on?"""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError(
                "Give the time with its UTC offset, for example 2026-11-24T10:00:00-07:00."
            )
        return super().enforce_timezone(value)


class BookSessionSerializer(serializers.Serializer):
    clinic = scoped_field(Clinic, lambda user: access.clinics_for(user, TreatmentSession, "add"))
    therapist = scoped_field(User, therapists_for)
    patient = patient_field()
    starts_at = AwareDateTimeField()
    length_minutes = serializers.IntegerField(
        default=30, help_text="5 to 240 minutes; 30 when left out."
    )
    needling = serializers.BooleanField(
        default=True,
        help_text="false for manual therapy, exercise or education only: no screening or "
        "needling consent is asked at the start, and no needle site can be charted.",
    )
    appointment_type = scoped_field(
        AppointmentType,
        lambda user: access.visible_to(user, AppointmentType.objects.filter(is_active=True)),
        required=False,
        allow_null=True,
        default=None,
        help_text="An active appointment type of the organisation: it gives the length and "
        "needling (length_minutes and needling are then not read).",
    )
    outside_hours_reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=500,
        help_text="Why the session is booked outside the therapist's working hours: without "
        "it such a booking is refused (outside_working_hours).",
    )


class StartSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        allow_blank=True,
        default="",
        help_text="Needed when the patient has relative contraindications: why you proceed.",
    )
    without_needling = serializers.BooleanField(
        default=False,
        help_text="true starts a session booked with needling without it (manual therapy, "
        "exercise, education): consent, screening and contraindications to needling are not "
        "asked, and no needle site can be charted. Settled once started.",
    )


class BookWeeklySerializer(BookSessionSerializer):
    weeks = serializers.IntegerField(
        min_value=2, max_value=52, help_text="How many weeks, the first included: 2 to 52."
    )


class RescheduleSerializer(serializers.Serializer):
    starts_at = AwareDateTimeField(help_text="The new start; the length stays.")
    therapist = scoped_field(
        User,
        therapists_for,
        required=False,
        allow_null=True,
        default=None,
        help_text="Another therapist of the session's clinic; the same one when left out.",
    )
    outside_hours_reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=500,
        help_text="Why the new time is outside the therapist's working hours, if it is.",
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="")


class TreatmentSessionViewSet(
    LoggedResponsesMixin,
    ChartActions,
    access.ScopedQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Booked sessions. Booked (POST), cancelled or marked as a no-show; never deleted.

    The chart of each is under /sessions/{id}/chart/ and the actions beside it (ChartActions).
    """

    queryset = TreatmentSession.objects.select_related(
        "clinic", "organization", "patient__home_clinic", "patient__organization"
    ).order_by("starts_at", "id")
    serializer_class = SessionSerializer
    read_part = RecordPart.DETAILS
    list_part = RecordPart.LIST
    filterset_class = SessionFilter
    lookup_value_regex = UUID_PATTERN

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # Read per clinic (clinical staff there read the facts of its patients): a fixed
        # number of queries per clinic on the page, however many sessions.
        by_clinic: dict = {}
        for session in page:
            if session.status in WAITING_FOR_THE_NEEDLE:
                by_clinic.setdefault(session.clinic, []).append(session.patient)
        known = {
            (clinic.pk, patient_id): summary
            for clinic, patients in by_clinic.items()
            for patient_id, summary in safety.summaries_for(
                request.user, patients, clinic=clinic
            ).items()
        }
        context = {**self.get_serializer_context(), "safety": known}
        return self.get_paginated_response(SessionSerializer(page, many=True, context=context).data)

    def answer(self, session: TreatmentSession, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            SessionSerializer(session, context=self.get_serializer_context()).data, status=code
        )

    @extend_schema(
        request=BookSessionSerializer,
        responses={201: SessionSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request):
        key = submission_key(request)
        book = BookSessionSerializer(data=request.data, context=self.get_serializer_context())
        book.is_valid(raise_exception=True)
        data = dict(book.validated_data)
        with naming_the_header():
            session = services.book_session(
                by=request.user,
                length=datetime.timedelta(minutes=data.pop("length_minutes")),
                submission_key=key,
                **data,
            )
        return self.answer(session, status.HTTP_201_CREATED)

    @extend_schema(request=StartSerializer, responses=SessionSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start the session, on its own day only (its clinic's clock): refused without
        consent, screening, or with a contraindication."""
        start = StartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        session = services.start_session(
            session=self.get_object(), by=request.user, **start.validated_data
        )
        return self.answer(session)

    @extend_schema(request=ReasonSerializer, responses=SessionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        session = services.cancel_session(
            session=self.get_object(), by=request.user, **reason.validated_data
        )
        return self.answer(session)

    @extend_schema(request=BookWeeklySerializer, responses={201: SessionSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def weekly(self, request):
        """Book the same time every week for `weeks` weeks, each week its own session: all or
        none. Weeks that cannot be booked answer 400 `series_refused`, listed in
        `weeks_refused`, and nothing is booked."""
        book = BookWeeklySerializer(data=request.data, context=self.get_serializer_context())
        book.is_valid(raise_exception=True)
        data = dict(book.validated_data)
        sessions = services.book_weekly(
            by=request.user,
            length=datetime.timedelta(minutes=data.pop("length_minutes")),
            **data,
        )
        context = self.get_serializer_context()
        return Response(
            SessionSerializer(sessions, many=True, context=context).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=RescheduleSerializer, responses=SessionSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        """Move a booked session to another time or therapist of its clinic; its history
        keeps where it was. A clash answers 409 `double_booked` with the `next_slots`."""
        session = self.get_object()
        move = RescheduleSerializer(data=request.data, context=self.get_serializer_context())
        move.is_valid(raise_exception=True)
        session = services.reschedule_session(
            session=session, by=request.user, **move.validated_data
        )
        return self.answer(session)

    @extend_schema(request=ReasonSerializer, responses=SessionSerializer)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        session = services.mark_no_show(
            session=self.get_object(), by=request.user, **reason.validated_data
        )
        return self.answer(session)
