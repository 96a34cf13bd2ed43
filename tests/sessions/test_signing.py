"""Signing a session: counted needles, one signature, and a chart that never changes after it."""

import uuid

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from sessions import services
from sessions.exceptions import (
    ChartConflict,
    ChartInvalid,
    Conflict,
    NotPermitted,
    SessionSigned,
    SessionStateRefused,
    SigningRefused,
)
from sessions.models import (
    Addendum,
    AdverseEvent,
    AdverseEventReview,
    Chart,
    ChartTemplate,
    ContraindicationOverride,
    NeedleSite,
    Status,
    TreatmentSession,
)
from sessions.signals import session_signed
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.sessions.factories import ready_to_needle, site_fields, started_session


@pytest.fixture
def session(world):
    """Ann Lee's session with Priya at Kelowna tomorrow at 10:00, started on blood thinners."""
    ann = PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")
    ready_to_needle(ann, by=world.therapist, contraindications=("blood_thinners",))
    return started_session(
        patient=ann,
        therapist=world.therapist,
        starts_at=tomorrow_at(10, clinic=world.kelowna),
        override_reason="INR checked today: 2.1",
    )


def count(session, by, inserted, removed):
    chart = Chart.objects.get(session=session)
    return services.save_chart(
        session=session,
        by=by,
        expected_version=chart.version,
        needles_inserted=inserted,
        needles_removed=removed,
    )


def add_site(session, by, **overrides):
    return services.add_needle_site(session=session, by=by, **site_fields(**overrides))


def charted(session, by):
    """Two sites of 2 and 1 needles, counted 3 in and 3 out, and a bruise: ready to sign."""
    add_site(session, by, needles=2)
    add_site(session, by, muscle="piriformis", needles=1)
    services.add_adverse_event(
        session=session, by=by, kind="bruising", severity="mild", action_taken="Pressure"
    )
    return count(session, by, 3, 3)


@pytest.fixture
def signatures():
    """Every session_signed sent while the test runs, as (session, by)."""
    sent = []

    def receiver(sender, session, by, **kwargs):
        sent.append((session.pk, by))

    session_signed.connect(receiver, weak=False, dispatch_uid="test_signing.signatures")
    yield sent
    session_signed.disconnect(dispatch_uid="test_signing.signatures")


@pytest.fixture
def signed(world, session):
    charted(session, world.therapist)
    return services.sign_session(session=session, by=world.therapist)


# Signing


def test_signing_refused_when_needles_removed_differ_from_inserted(world, session):
    add_site(session, world.therapist, needles=3)
    count(session, world.therapist, 3, 2)
    with pytest.raises(SigningRefused) as refused:
        services.sign_session(session=session, by=world.therapist)
    assert refused.value.field == "needles_removed"
    assert "3 needles inserted, 2 removed" in refused.value.message
    session.refresh_from_db()
    assert (session.status, session.signed_at) == (Status.IN_PROGRESS, None)


def test_signing_refused_when_the_count_differs_from_the_sites(world, session):
    add_site(session, world.therapist, needles=2)
    count(session, world.therapist, 3, 3)
    with pytest.raises(SigningRefused) as refused:
        services.sign_session(session=session, by=world.therapist)
    assert refused.value.field == "needles_inserted"
    assert "the needle sites chart 2 needles, the count says 3 inserted" in refused.value.message
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


@pytest.mark.parametrize(
    "someone_else", ["manager", "org_admin", "front_desk", "vernon_therapist", "other_therapist"]
)
def test_only_the_sessions_therapist_signs_it(world, session, someone_else):
    charted(session, world.therapist)
    with pytest.raises(NotPermitted):
        services.sign_session(session=session, by=getattr(world, someone_else))
    session.refresh_from_db()
    assert session.status == Status.IN_PROGRESS


def test_signing_with_matching_counts_locks_the_session(world, session, signatures):
    charted(session, world.therapist)
    before = timezone.now()
    services.sign_session(session=session, by=world.therapist)
    stored = TreatmentSession.objects.get(pk=session.pk)
    assert (stored.status, stored.signed_by) == (Status.SIGNED, world.therapist)
    assert before <= stored.signed_at <= timezone.now()
    assert signatures == [(session.pk, world.therapist)]


def test_signing_twice_changes_nothing_and_tells_nobody_again(world, session, signatures):
    charted(session, world.therapist)
    first = services.sign_session(session=session, by=world.therapist)
    again = services.sign_session(session=session, by=world.therapist)
    assert (again.signed_at, again.version) == (first.signed_at, first.version)
    assert len(signatures) == 1


def test_a_failing_receiver_leaves_the_session_unsigned(world, session):
    def aftercare_breaks(sender, session, **kwargs):
        raise RuntimeError("aftercare is down")

    charted(session, world.therapist)
    session_signed.connect(aftercare_breaks, dispatch_uid="test_signing.breaks")
    try:
        with pytest.raises(RuntimeError, match="aftercare is down"):
            services.sign_session(session=session, by=world.therapist)
    finally:
        session_signed.disconnect(dispatch_uid="test_signing.breaks")
    stored = TreatmentSession.objects.get(pk=session.pk)
    assert (stored.status, stored.signed_at, stored.signed_by) == (Status.IN_PROGRESS, None, None)
    assert services.sign_session(session=session, by=world.therapist).status == Status.SIGNED


def test_signing_from_a_page_older_than_the_last_save_is_refused(world, session):
    chart = charted(session, world.therapist)
    with pytest.raises(ChartConflict):
        services.sign_session(session=session, by=world.therapist, expected_version=1)
    signed = services.sign_session(
        session=session, by=world.therapist, expected_version=chart.version
    )
    assert signed.status == Status.SIGNED


def test_a_session_not_started_is_not_signed(world, session):
    booked = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=session.patient,
        starts_at=tomorrow_at(14, clinic=world.kelowna),
        by=world.front_desk,
    )
    with pytest.raises(SessionStateRefused, match="booked cannot be signed"):
        services.sign_session(session=booked, by=world.therapist)


# A signed chart does not change: through the services...


@pytest.mark.parametrize(
    "write",
    [
        "save_chart",
        "apply_template",
        "add_needle_site",
        "add_range_of_motion",
        "add_pressure_pain_threshold",
        "add_adverse_event",
        "remove_chart_row",
    ],
)
def test_every_chart_service_refuses_a_signed_session(world, signed, write):
    who = {"by": world.therapist}
    site = NeedleSite.objects.filter(session=signed).first()
    template = ChartTemplate.objects.create(organization=world.organization, name="Neck")
    calls = {
        "save_chart": lambda: services.save_chart(
            session=signed, expected_version=2, complaint="Rewritten", **who
        ),
        "apply_template": lambda: services.apply_template(
            session=signed, template=template, expected_version=2, **who
        ),
        "add_needle_site": lambda: add_site(signed, **who),
        "add_range_of_motion": lambda: services.add_range_of_motion(
            session=signed, joint="knee", movement="flexion", side="left", degrees=120, **who
        ),
        "add_pressure_pain_threshold": lambda: services.add_pressure_pain_threshold(
            session=signed, site="Piriformis", side="left", kg_per_cm2="3.0", **who
        ),
        "add_adverse_event": lambda: services.add_adverse_event(
            session=signed, kind="nausea", severity="mild", action_taken="Water", **who
        ),
        "remove_chart_row": lambda: services.remove_chart_row(row=site, **who),
    }
    before = chart_rows(signed)
    with pytest.raises(SessionSigned, match="Add an addendum instead"):
        calls[write]()
    assert chart_rows(signed) == before


def chart_rows(session) -> dict:
    chart = Chart.objects.get(session=session)
    return {
        "chart": (chart.complaint, chart.version, chart.template_id),
        "sites": sorted(NeedleSite.objects.filter(session=session).values_list("id", flat=True)),
        "rom": session.range_of_motion.count(),
        "ppt": session.pressure_pain_thresholds.count(),
        "events": session.adverse_events.count(),
    }


# ... and through every path below them.

TAMPERING = {
    Chart: ("complaint", "Rewritten after signing"),
    NeedleSite: ("lot_number", "LOT-FORGED"),
    AdverseEvent: ("action_taken", "Nothing happened"),
    ContraindicationOverride: ("reason", "Never on blood thinners"),
    TreatmentSession: ("status", Status.IN_PROGRESS),
}


def row_of(model, session):
    if model is TreatmentSession:
        return TreatmentSession.objects.get(pk=session.pk)
    return model.objects.filter(session=session).first()


def refusal_of(model) -> tuple[type[Exception], str]:
    """The signed session's own trigger raises; its chart rows' triggers violate a check."""
    if model is TreatmentSession:
        return ProgrammingError, "Cannot update or delete rows"
    return IntegrityError, "The session is signed: its chart cannot change"


@pytest.mark.parametrize("model", TAMPERING, ids=lambda model: model.__name__)
def test_the_database_refuses_saving_a_signed_chart_row(signed, model):
    field, value = TAMPERING[model]
    row = row_of(model, signed)
    kept = getattr(row, field)
    setattr(row, field, value)
    error, message = refusal_of(model)
    with pytest.raises(error, match=message), transaction.atomic():
        row.save()
    assert getattr(row_of(model, signed), field) == kept


@pytest.mark.parametrize("model", TAMPERING, ids=lambda model: model.__name__)
def test_the_database_refuses_updating_a_signed_chart_row(signed, model):
    field, value = TAMPERING[model]
    row = row_of(model, signed)
    error, message = refusal_of(model)
    with pytest.raises(error, match=message), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{field: value})
    assert getattr(row_of(model, signed), field) == getattr(row, field)


@pytest.mark.parametrize("model", TAMPERING, ids=lambda model: model.__name__)
def test_the_database_refuses_deleting_a_signed_chart_row(signed, model):
    row = row_of(model, signed)
    if model is TreatmentSession:
        # Django refuses first (its chart rows protect it); the trigger holds without Django.
        with pytest.raises(ProtectedError), transaction.atomic():
            row.delete()
        error, message = refusal_of(model)
        with (
            pytest.raises(error, match=message),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "DELETE FROM treatment_sessions_treatmentsession WHERE id = %s", [row.pk]
            )
    else:
        with pytest.raises(IntegrityError, match="The session is signed"), transaction.atomic():
            row.delete()
        with pytest.raises(IntegrityError, match="The session is signed"), transaction.atomic():
            model.objects.filter(pk=row.pk).delete()
    assert model.objects.filter(pk=row.pk).exists()


def test_the_database_refuses_a_row_added_to_a_signed_chart(signed):
    copy = NeedleSite.objects.filter(session=signed).first()
    copy.pk = None
    with pytest.raises(IntegrityError, match="The session is signed"), transaction.atomic():
        copy.save()
    assert NeedleSite.objects.filter(session=signed).count() == 2


def test_addenda_and_reviews_never_change_from_the_moment_they_are_written(
    as_database_owner, world, session
):
    # The trigger refuses even the owner; Fascia's role lacks the privilege besides
    # (tests/config/test_least_privilege.py).
    event = services.add_adverse_event(
        session=session,
        by=world.therapist,
        kind="pneumothorax",
        severity="moderate",
        action_taken="Sent for a chest X-ray",
    )
    review = services.review_adverse_event(event=event, by=world.org_admin, note="Reviewed")
    assert session.status == Status.IN_PROGRESS  # a review locks itself, signed or not
    services.sign_session(session=session, by=world.therapist)
    addendum = services.add_addendum(session=session, by=world.therapist, text="X-ray clear")
    for row, field in [(review, "note"), (addendum, "text")]:
        model = type(row)
        setattr(row, field, "Rewritten")
        never = "Cannot update or delete rows"
        with pytest.raises(ProgrammingError, match=never), transaction.atomic():
            row.save()
        with pytest.raises(ProgrammingError, match=never), transaction.atomic():
            model.objects.filter(pk=row.pk).update(**{field: "Rewritten"})
        with pytest.raises(ProgrammingError, match=never), transaction.atomic():
            row.delete()
        assert getattr(model.objects.get(pk=row.pk), field) != "Rewritten"


# Addenda


def test_an_addendum_follows_only_a_signed_chart(world, session):
    with pytest.raises(SessionStateRefused, match="Addenda follow a signed chart"):
        services.add_addendum(session=session, by=world.therapist, text="Too early")
    assert not Addendum.objects.exists()


def test_an_addendum_has_text(world, signed):
    with pytest.raises(ChartInvalid) as refused:
        services.add_addendum(session=signed, by=world.therapist, text="  \n ")
    assert refused.value.field == "text"
    assert not Addendum.objects.exists()


def test_addenda_are_kept_in_order_with_author_and_time(world, signed):
    before = timezone.now()
    services.add_addendum(session=signed, by=world.therapist, text="X-ray clear")
    services.add_addendum(session=signed, by=world.manager, text="  Patient called: fine  ")
    addenda = list(signed.addenda.all())
    assert [(a.text, a.author) for a in addenda] == [
        ("X-ray clear", world.therapist),
        ("Patient called: fine", world.manager),
    ]
    assert before <= addenda[0].written_at <= addenda[1].written_at <= timezone.now()


def test_the_front_desk_adds_no_addendum(world, signed):
    with pytest.raises(NotPermitted):
        services.add_addendum(session=signed, by=world.front_desk, text="Patient rang")


def test_the_same_addendum_sent_twice_is_one(world, signed):
    key = uuid.uuid4()
    first = services.add_addendum(
        session=signed, by=world.therapist, text="X-ray clear", submission_key=key
    )
    again = services.add_addendum(
        session=signed, by=world.therapist, text="X-ray clear", submission_key=key
    )
    assert again.pk == first.pk
    with pytest.raises(Conflict):
        services.add_addendum(
            session=signed, by=world.therapist, text="Something else", submission_key=key
        )
    assert Addendum.objects.count() == 1


def test_a_review_outlives_the_signature(world, session):
    event = services.add_adverse_event(
        session=session,
        by=world.therapist,
        kind="pneumothorax",
        severity="moderate",
        action_taken="Sent for a chest X-ray",
    )
    services.sign_session(session=session, by=world.therapist)
    services.review_adverse_event(event=event, by=world.org_admin, note="Technique reviewed")
    assert AdverseEventReview.objects.get().adverse_event == event
