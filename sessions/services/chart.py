"""Writes on a session's chart: the draft, its rows, signing, addenda and reviews.

Every write to a draft locks the session row first, so a save and a signature
never interleave: either the save lands before the signature, or it finds the
session signed and is refused. The database refuses any change once signed
(migration 0004), whatever path a write takes.
"""

import datetime
import re
import uuid
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from clinics import access
from clinics.models import Organization
from patients.exceptions import SubmissionKeyReused
from sessions import clock
from sessions.exceptions import (
    ChartConflict,
    ChartInvalid,
    Conflict,
    NotPermitted,
    RiskNotAcknowledged,
    SessionSigned,
    SessionStateRefused,
    SigningRefused,
)
from sessions.models import (
    REVIEWED_KINDS,
    Addendum,
    AdverseEvent,
    AdverseEventKind,
    AdverseEventReview,
    Chart,
    ChartTemplate,
    Joint,
    MeasuredSide,
    Movement,
    Muscle,
    NeedleSite,
    OrganizationMuscle,
    PressurePainThreshold,
    RangeOfMotion,
    Severity,
    Side,
    Status,
    Technique,
    TreatmentSession,
    TwitchResponse,
)
from sessions.muscles import REGIONS
from sessions.selectors import is_its_therapist
from sessions.signals import session_signed

LONGEST_TEXT = 20_000
"""Characters in one chart field or addendum: pages of notes, not a pasted file."""

ChartRow = NeedleSite | RangeOfMotion | PressurePainThreshold | AdverseEvent


def _open_draft(session: TreatmentSession, by, action: str, model) -> TreatmentSession:
    """The session, locked, if `by` may `action` `model` rows of its chart while it is a draft."""
    session = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "organization")
        .get(pk=session.pk)
    )
    if not access.can_at(
        by, action, model, organization=session.organization, clinic=session.clinic
    ):
        raise NotPermitted("Your role does not allow you to chart sessions at this clinic.")
    if session.status == Status.SIGNED:
        raise SessionSigned(
            "This session is signed: its chart no longer changes. Add an addendum instead."
        )
    if session.status != Status.IN_PROGRESS:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} has no chart to write: "
            "start it first."
        )
    return session


def _check_needling(session: TreatmentSession, field: str) -> None:
    """A session without needling charts no needle (the database holds it too)."""
    if not session.needling:
        raise ChartInvalid(
            f"{field}: this session is without needling (manual therapy, exercise or "
            "education): it has no needle sites, needle counts or needling end.",
            field=field,
        )


def chart_of(session: TreatmentSession) -> Chart:
    """The session's chart, made empty the first time (the session row is already locked)."""
    chart = Chart.objects.select_for_update().filter(session=session).first()
    if chart is None:
        chart = Chart.objects.create(organization_id=session.organization_id, session=session)
    return chart


def _check_text(field: str, value) -> str:
    if not isinstance(value, str):
        raise ChartInvalid(f"{field}: give text.", field=field)
    if len(value) > LONGEST_TEXT:
        raise ChartInvalid(
            f"{field}: at most {LONGEST_TEXT:,} characters ({len(value):,} given).", field=field
        )
    return value


def _check_whole(field: str, value, low: int, high: int, rule: str, *, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except (TypeError, ValueError):
            raise ChartInvalid(f"{field}: {rule}", field=field) from None
    if not low <= value <= high:
        raise ChartInvalid(f"{field}: {rule} ({value} given).", field=field)
    return value


def _check_decimal(field: str, value, low: Decimal, high: Decimal, places: int, rule: str):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ChartInvalid(f"{field}: {rule}", field=field) from None
    if not number.is_finite() or not low <= number <= high:
        raise ChartInvalid(f"{field}: {rule} ({value} given).", field=field)
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ChartInvalid(
            f"{field}: at most {places} decimal places ({value} given).", field=field
        )
    return number


def _check_choice(field: str, value, choices) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ChartInvalid(f"{field}: choose one of {allowed} ({value!r} given).", field=field)
    return value


PAIN_RULE = "pain is scored 0 (none) to 10 (worst imaginable)"
NEEDLE_COUNT_RULE = "a whole number of needles, 0 to 500"

_CHECKS = {
    **{field: _check_text for field in Chart.TEXT_FIELDS},
    "pain_before": lambda f, v: _check_whole(f, v, 0, 10, PAIN_RULE, optional=True),
    "pain_after": lambda f, v: _check_whole(f, v, 0, 10, PAIN_RULE, optional=True),
    "needles_inserted": lambda f, v: _check_whole(f, v, 0, 500, NEEDLE_COUNT_RULE),
    "needles_removed": lambda f, v: _check_whole(f, v, 0, 500, NEEDLE_COUNT_RULE),
    "needling_ended_at": lambda f, v: _check_moment(f, v),
}


def _check_moment(field: str, value) -> datetime.datetime | None:
    """A date and time (ISO 8601 text or a datetime), or None (blank) for not recorded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime.datetime):
        raise ChartInvalid(
            f"{field}: give a date and time, for example 2026-11-24T10:25 on the clinic's clock.",
            field=field,
        )
    return value


def _check_needling_end(session: TreatmentSession, value) -> datetime.datetime | None:
    """When the needling ended: on the clinic's clock unless an offset is given, to the
    minute, not before the session started and not in the future."""
    if value is None:
        return None
    zone = session.clinic.zone
    if timezone.is_naive(value):
        value = timezone.make_aware(value, zone)
    value = _to_the_minute(value)
    given = clock.as_read(value, zone)
    if value < _to_the_minute(session.started_at):
        raise ChartInvalid(
            f"needling_ended_at: the needling ends after the session started, at "
            f"{clock.as_read(session.started_at, zone)} ({given} given).",
            field="needling_ended_at",
        )
    now = timezone.now()
    if value > now:
        raise ChartInvalid(
            f"needling_ended_at: record the end once it has happened; it is "
            f"{clock.as_read(now, zone)} now ({given} given).",
            field="needling_ended_at",
        )
    return value


def _to_the_minute(moment: datetime.datetime) -> datetime.datetime:
    """The chart keeps clock times to the minute, as the form shows them."""
    return moment.astimezone(datetime.UTC).replace(second=0, microsecond=0)


_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def checked_client(value: str | None, *, field: str = "client") -> str:
    """A client id as sent (a page load's, a device's or an API client's), "" for none.

    `field` is what the sender calls it: the page's form field, or the API's header.
    """
    value = (value or "").strip()
    if value and not _CLIENT_ID.fullmatch(value):
        raise ChartInvalid(
            f"{field}: a client id is 8 to 64 letters, digits, hyphens or underscores (a UUID "
            f"made once per tab or device will do); “{value[:40]}” given.",
            field=field,
        )
    return value


@transaction.atomic
def save_chart(
    *, session: TreatmentSession, by, expected_version: int, client: str = "", **fields
) -> Chart:
    """Save the draft's notes and counts (an autosave, or the form's Save).

    `expected_version` is the version the writer's page or request started
    from; `client` the id of that page load, device or API client ("" when the
    sender gave none). The writer is the user and the client together: if
    anyone else, or the same user from another client, saved a field since,
    the save is refused with ChartConflict naming what changed. Accepted all
    the same: the very save retried after a dropped connection, saves after
    the same writer's own (an answer lost on the way back), and saves after
    rows were added or removed (they overwrite nothing).
    """
    unknown = sorted(set(fields) - set(Chart.FIELDS))
    if unknown:
        raise ChartInvalid(f"{unknown[0]}: not a field of the chart.", field=unknown[0])
    fields = {name: _CHECKS[name](name, value) for name, value in fields.items()}
    client = checked_client(client)
    session = _open_draft(session, by, "change", Chart)
    for needling_field in ("needles_inserted", "needles_removed", "needling_ended_at"):
        if fields.get(needling_field):
            _check_needling(session, needling_field)
    if "needling_ended_at" in fields:
        fields["needling_ended_at"] = _check_needling_end(session, fields["needling_ended_at"])
    chart = chart_of(session)
    if all(getattr(chart, name) == value for name, value in fields.items()):
        return chart
    _check_version(chart, expected_version, by, session, client=client)
    for name, value in fields.items():
        setattr(chart, name, value)
    return _touch(chart, by, client)


def _touch(chart: Chart, by, client: str = "") -> Chart:
    """A new version of the chart: its text, or its rows, changed (by `by`, from `client`)."""
    chart.version += 1
    chart.updated_at, chart.updated_by, chart.updated_from = timezone.now(), by, client
    chart.save()
    return chart


def _check_version(
    chart: Chart, expected_version: int, by, session, *, client: str = "", strict=False
) -> None:
    """Refuse a write started from an older version if another writer changed a field since.

    A writer is a user from one client (a page load, a device, an API client):
    the same therapist in two tabs is two writers, as two therapists are. Only
    the writer's own changes since can be built on without a look: a page
    holds everything it sent, so its save after a lost answer overwrites
    nothing of its own. A save without a client id is one writer with the same
    user's other saves without one (API clients from before client ids).

    `strict` (signing) refuses any change since, rows included: a signature
    covers exactly what the signer saw.
    """
    if expected_version == chart.version:
        return
    history = (
        apps.get_model("treatment_sessions", "ChartEvent")
        .objects.filter(pgh_obj_id=chart.pk, version__gte=expected_version)
        .order_by("version", "pgh_id")
    )
    base = before = theirs = None
    # Streamed: a page left open all morning may be hundreds of versions behind.
    for event in history.iterator(chunk_size=100):
        if event.version == expected_version:
            base = before = event
        elif base is not None:
            # Rows (a version with no field changed) overwrite nothing, whoever added them.
            if (event.updated_by_id, event.updated_from) != (by.pk, client) and any(
                getattr(event, name) != getattr(before, name) for name in Chart.FIELDS
            ):
                theirs = event
            before = event
    changed = {
        name: getattr(chart, name)
        for name in Chart.FIELDS
        if base is None or getattr(base, name) != getattr(chart, name)
    }
    if strict or base is None:
        raise _conflict(chart, changed, session, by=by)
    if changed and theirs is not None:
        raise _conflict(chart, changed, session, by=by, writer=theirs)


def _conflict(chart: Chart, changed: dict, session, *, by, writer=None) -> ChartConflict:
    """The refusal, naming the last other writer (`writer`, a version in the chart's history;
    the chart's last saver when not given) and what differs from the version sent."""
    writer = writer or chart
    labels = ", ".join(str(Chart._meta.get_field(name).verbose_name) for name in changed)
    labels = labels or "needle sites, measurements or adverse events"
    when = timezone.localtime(writer.updated_at, session.clinic.zone)
    saved_by = writer.updated_by.get_full_name() if writer.updated_by else "Someone"
    if writer.updated_by_id == by.pk:
        said = (
            f"You changed this chart at {when:%H:%M} in another tab or on another device, "
            f"after this one opened it (changed: {labels}). Nothing from here was saved: look "
            "at that version, then make your change again."
        )
    else:
        said = (
            f"{saved_by} changed this chart at {when:%H:%M} after you opened it (changed: "
            f"{labels}). Nothing of yours was saved: look at their version, then make your "
            "change again."
        )
    return ChartConflict(
        said,
        version=chart.version,
        saved_by=saved_by,
        saved_at=writer.updated_at,
        changed=changed,
    )


@transaction.atomic
def apply_template(
    *,
    session: TreatmentSession,
    by,
    template: ChartTemplate,
    expected_version: int,
    client: str = "",
) -> Chart:
    """Fill the draft's empty text fields from an organisation's chart template.

    `client` is as for save_chart: the template is a change of that writer's.
    """
    client = checked_client(client)
    session = _open_draft(session, by, "change", Chart)
    if template.organization_id != session.organization_id or not template.is_active:
        raise ChartInvalid("template: not one of your organisation's templates.", field="template")
    chart = chart_of(session)
    _check_version(chart, expected_version, by, session, client=client)
    for name in Chart.TEXT_FIELDS:
        if not getattr(chart, name).strip():
            setattr(chart, name, getattr(template, name))
    chart.template = template
    return _touch(chart, by, client)


def find_muscle(organization_id, code: str) -> Muscle | OrganizationMuscle:
    """A muscle of the default vocabulary or of the organisation's additions, by its code."""
    code = (code or "").strip()
    muscle = Muscle.objects.filter(code=code).first() or (
        OrganizationMuscle.objects.filter(organization_id=organization_id, code=code).first()
    )
    if muscle is None:
        raise ChartInvalid(
            f"muscle: {code!r} is not in the muscle vocabulary. Choose one from the list "
            "(an organisation admin can add muscles).",
            field="muscle",
        )
    return muscle


def _add_row(row: ChartRow, session: TreatmentSession, by, submission_key) -> ChartRow:
    """Insert a chart row once: the same submission key sent again gives the first row back."""
    row.organization_id = session.organization_id
    row.session = session
    row.recorded_by = by
    row.submission_key = submission_key
    model = type(row)
    if submission_key is not None:
        earlier = model.objects.filter(
            organization_id=session.organization_id, submission_key=submission_key
        ).first()
        if earlier is not None:
            if not _same_row(earlier, row):
                raise SubmissionKeyReused()
            return earlier
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "")
        if constraint.endswith("_submission_once"):
            earlier = model.objects.get(
                organization_id=session.organization_id, submission_key=submission_key
            )
            if not _same_row(earlier, row):
                raise SubmissionKeyReused() from None
            return earlier
        raise
    # A signature covers what the signer saw: rows count as a new version too.
    _touch(chart_of(session), by)
    return row


NOT_COMPARED = {"id", "recorded_at", "risk_acknowledged_at", "risk_acknowledged_by"}


def _same_row(earlier: ChartRow, row: ChartRow) -> bool:
    """Is `row` what `earlier` recorded (the same form sent again), not other details?"""
    return all(
        getattr(earlier, field.attname) == getattr(row, field.attname)
        for field in type(row)._meta.concrete_fields
        if field.name not in NOT_COMPARED
    )


@transaction.atomic
def add_needle_site(
    *,
    session: TreatmentSession,
    by,
    muscle: str,
    side: str,
    needles,
    needle_length_mm,
    needle_gauge_mm,
    depth_mm,
    technique: str,
    twitch_response: str,
    lot_number: str,
    retention_minutes=0,
    risk_acknowledged: bool = False,
    submission_key: uuid.UUID | None = None,
) -> NeedleSite:
    """Chart a needle site. Over the thorax, upper back or neck the risk must be acknowledged."""
    session = _open_draft(session, by, "add", NeedleSite)
    _check_needling(session, "muscle")
    entry = find_muscle(session.organization_id, muscle)
    site = NeedleSite(
        muscle=entry if isinstance(entry, Muscle) else None,
        organization_muscle=entry if isinstance(entry, OrganizationMuscle) else None,
        muscle_name=entry.name,
        side=_check_choice("side", side, Side),
        needles=_check_whole("needles", needles, 1, 50, "1 to 50 needles at one site"),
        needle_length_mm=_check_whole(
            "needle_length_mm", needle_length_mm, 7, 150, "a needle is 7 to 150 mm long"
        ),
        needle_gauge_mm=_check_decimal(
            "needle_gauge_mm",
            needle_gauge_mm,
            Decimal("0.12"),
            Decimal("0.50"),
            2,
            "the gauge is the needle's diameter, 0.12 to 0.50 mm",
        ),
        depth_mm=_check_decimal(
            "depth_mm", depth_mm, Decimal("0.5"), Decimal("150"), 1, "depth is 0.5 to 150 mm"
        ),
        technique=_check_choice("technique", technique, Technique),
        twitch_response=_check_choice("twitch_response", twitch_response, TwitchResponse),
        retention_minutes=_check_whole(
            "retention_minutes", retention_minutes, 0, 60, "retention is 0 to 60 minutes"
        ),
        lot_number=_lot(lot_number),
        pneumothorax_risk=entry.pneumothorax_risk,
    )
    if site.depth_mm > site.needle_length_mm:
        raise ChartInvalid(
            f"depth_mm: a needle goes no deeper than its length ({site.depth_mm} mm deep with a "
            f"{site.needle_length_mm} mm needle).",
            field="depth_mm",
        )
    if entry.pneumothorax_risk:
        if not risk_acknowledged:
            raise RiskNotAcknowledged(
                f"risk_acknowledged: needling the {entry.name.lower()} can reach the pleura "
                "(pneumothorax risk, higher in slender patients). Acknowledge the risk to "
                "record this site.",
                field="risk_acknowledged",
            )
        site.risk_acknowledged_at, site.risk_acknowledged_by = timezone.now(), by
    return _add_row(site, session, by, submission_key)


def _lot(lot_number) -> str:
    """Lot numbers are compared as printed on the box, without case or surrounding spaces."""
    lot = " ".join(str(lot_number or "").split()).upper()
    if not lot:
        raise ChartInvalid(
            "lot_number: record the needle lot number from the box (for recalls).",
            field="lot_number",
        )
    if len(lot) > 40:
        raise ChartInvalid("lot_number: at most 40 characters.", field="lot_number")
    return lot


@transaction.atomic
def add_range_of_motion(
    *,
    session: TreatmentSession,
    by,
    joint: str,
    movement: str,
    side: str,
    degrees,
    submission_key: uuid.UUID | None = None,
) -> RangeOfMotion:
    session = _open_draft(session, by, "add", RangeOfMotion)
    row = RangeOfMotion(
        joint=_check_choice("joint", joint, Joint),
        movement=_check_choice("movement", movement, Movement),
        side=_check_choice("side", side, MeasuredSide),
        degrees=_check_whole("degrees", degrees, 0, 360, "degrees are 0 to 360"),
    )
    return _add_row(row, session, by, submission_key)


@transaction.atomic
def add_pressure_pain_threshold(
    *,
    session: TreatmentSession,
    by,
    site: str,
    side: str,
    kg_per_cm2,
    submission_key: uuid.UUID | None = None,
) -> PressurePainThreshold:
    session = _open_draft(session, by, "add", PressurePainThreshold)
    site = " ".join(str(site or "").split())
    if not site or len(site) > 100:
        raise ChartInvalid("site: name where you measured (up to 100 characters).", field="site")
    row = PressurePainThreshold(
        site=site,
        side=_check_choice("side", side, MeasuredSide),
        kg_per_cm2=_check_decimal(
            "kg_per_cm2",
            kg_per_cm2,
            Decimal("0.1"),
            Decimal("20"),
            1,
            "a threshold is 0.1 to 20 kg/cm²",
        ),
    )
    return _add_row(row, session, by, submission_key)


@transaction.atomic
def add_adverse_event(
    *,
    session: TreatmentSession,
    by,
    kind: str,
    severity: str,
    action_taken: str,
    notes: str = "",
    submission_key: uuid.UUID | None = None,
) -> AdverseEvent:
    """Record an adverse event; a suspected pneumothorax goes to the organisation admins."""
    session = _open_draft(session, by, "add", AdverseEvent)
    action_taken = _check_text("action_taken", action_taken or "").strip()
    if not action_taken:
        raise ChartInvalid("action_taken: say what was done.", field="action_taken")
    row = AdverseEvent(
        kind=_check_choice("kind", kind, AdverseEventKind),
        severity=_check_choice("severity", severity, Severity),
        action_taken=action_taken,
        notes=_check_text("notes", notes or "").strip(),
        needs_review=kind in REVIEWED_KINDS,
    )
    return _add_row(row, session, by, submission_key)


@transaction.atomic
def remove_chart_row(*, row: ChartRow, by) -> None:
    """Take a row out of a draft (recorded in history); a signed chart keeps every row."""
    model = type(row)
    session = _open_draft(row.session, by, "delete", model)
    if model is AdverseEvent and row.needs_review:
        # Otherwise a suspected pneumothorax could leave the chart before anyone reviewed it.
        raise Conflict(
            "A suspected pneumothorax stays in the chart for the organisation admins' review: "
            "if it was recorded in error, say so in the notes of another event or an addendum.",
            field="adverse_event",
        )
    deleted, _ = model.objects.filter(pk=row.pk, session=session).delete()
    if deleted:  # else removed a moment ago (a double click): nothing more to do
        _touch(chart_of(session), by)


def count_refusal(chart: Chart, *, needles_charted: int) -> SigningRefused | None:
    """Why the needle count refuses signing `chart`, or None: the rule sign_session applies,
    for the confirmation before signing to say first."""
    if chart.needles_inserted != needles_charted:
        return SigningRefused(
            f"needles_inserted: the needle sites chart {needles_charted} needle"
            f"{'' if needles_charted == 1 else 's'}, the count says {chart.needles_inserted} "
            "inserted.",
            field="needles_inserted",
        )
    if chart.needles_removed != chart.needles_inserted:
        return SigningRefused(
            f"needles_removed: {chart.needles_inserted} needles inserted, "
            f"{chart.needles_removed} removed. Account for every needle before signing.",
            field="needles_removed",
        )
    return None


@transaction.atomic
def sign_session(
    *, session: TreatmentSession, by, expected_version: int | None = None
) -> TreatmentSession:
    """Lock the chart. Refused unless needle counts match; sends `session_signed` once."""
    session = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "organization")
        .get(pk=session.pk)
    )
    if not access.can(by, "view", session) or not is_its_therapist(by, session):
        raise NotPermitted("Only the session's therapist signs it.")
    if session.status == Status.SIGNED:
        return session
    if session.status != Status.IN_PROGRESS:
        raise SessionStateRefused(
            f"A session that is {session.get_status_display().lower()} cannot be signed."
        )
    chart = chart_of(session)
    if expected_version is not None:
        _check_version(chart, expected_version, by, session, strict=True)
    charted = sum(NeedleSite.objects.filter(session=session).values_list("needles", flat=True))
    if refusal := count_refusal(chart, needles_charted=charted):
        raise refusal
    session.status = Status.SIGNED
    session.signed_at, session.signed_by = timezone.now(), by
    session.version += 1
    session.save()
    session_signed.send(sender=TreatmentSession, session=session, by=by)
    return session


@transaction.atomic
def add_addendum(
    *, session: TreatmentSession, by, text: str, submission_key: uuid.UUID | None = None
) -> Addendum:
    """Add a correction or later note under a signed chart."""
    session = TreatmentSession.objects.select_related("clinic", "organization").get(pk=session.pk)
    if not access.can_at(
        by, "add", Addendum, organization=session.organization, clinic=session.clinic
    ):
        raise NotPermitted("Your role does not allow you to add to this session's chart.")
    if session.status != Status.SIGNED:
        raise SessionStateRefused("Addenda follow a signed chart: edit the draft itself instead.")
    text = _check_text("text", text or "").strip()
    if not text:
        raise ChartInvalid("text: write the addendum.", field="text")
    if submission_key is not None:
        earlier = Addendum.objects.filter(
            organization_id=session.organization_id, submission_key=submission_key
        ).first()
        if earlier is not None:
            if (earlier.session_id, earlier.text) != (session.pk, text):
                raise SubmissionKeyReused()
            return earlier
    try:
        with transaction.atomic():
            return Addendum.objects.create(
                organization_id=session.organization_id,
                session=session,
                text=text,
                author=by,
                submission_key=submission_key,
            )
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "")
        if submission_key is None or constraint != "addendum_submission_once":
            raise
        earlier = Addendum.objects.get(
            organization_id=session.organization_id, submission_key=submission_key
        )
        if (earlier.session_id, earlier.text) != (session.pk, text):
            raise SubmissionKeyReused() from None
        return earlier


@transaction.atomic
def review_adverse_event(*, event: AdverseEvent, by, note: str) -> AdverseEventReview:
    """An organisation admin's review of a suspected pneumothorax (or another reviewed kind)."""
    event = (
        AdverseEvent.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=event.pk)
    )
    if not access.can_at(by, "add", AdverseEventReview, organization=event.organization):
        raise NotPermitted("Organisation admins review adverse events.")
    if not event.needs_review:
        raise ChartInvalid("This adverse event does not need a review.", field="adverse_event")
    earlier = AdverseEventReview.objects.filter(adverse_event=event).first()
    if earlier is not None:
        raise Conflict(
            f"{earlier.reviewed_by.get_full_name()} reviewed this on "
            f"{timezone.localtime(earlier.reviewed_at, event.session.clinic.zone):%d %B %Y}.",
            field="adverse_event",
        )
    note = (note or "").strip()
    if not note:
        raise ChartInvalid("note: write what the review found and decided.", field="note")
    return AdverseEventReview.objects.create(
        organization_id=event.organization_id, adverse_event=event, note=note, reviewed_by=by
    )


@transaction.atomic
def add_muscle(
    *, organization: Organization, by, name: str, region: str, pneumothorax_risk: bool
) -> OrganizationMuscle:
    """Add a muscle to the organisation's vocabulary."""
    if not access.can_at(by, "add", OrganizationMuscle, organization=organization):
        raise NotPermitted("Organisation admins add muscles to the vocabulary.")
    name = " ".join((name or "").split())
    code = slugify(name)
    if not code or len(name) > 80:
        raise ChartInvalid("name: name the muscle (up to 80 characters).", field="name")
    if region not in REGIONS:
        raise ChartInvalid(
            f"region: choose one of {', '.join(REGIONS)} ({region!r} given).", field="region"
        )
    taken = (
        Muscle.objects.filter(code=code).exists()
        or OrganizationMuscle.objects.filter(organization=organization, code=code).exists()
    )
    if taken:
        raise ChartInvalid(f"name: {name} is already in the vocabulary.", field="name")
    try:
        with transaction.atomic():
            return OrganizationMuscle.objects.create(
                organization=organization,
                code=code,
                name=name,
                region=region,
                pneumothorax_risk=bool(pneumothorax_risk),
                added_by=by,
            )
    except IntegrityError:  # another admin added it a moment ago
        raise ChartInvalid(f"name: {name} is already in the vocabulary.", field="name") from None
