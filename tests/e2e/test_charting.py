"""A therapist charts a session end to end: two sites from the body chart, sign after the
confirmation, an addendum."""

from django.utils import timezone
from playwright.sync_api import expect

from sessions import services
from sessions.models import Chart, NeedleSite, Status, TreatmentSession
from tests.patients.factories import PatientFactory, tomorrow_at
from tests.sessions.factories import ready_to_needle, started_session, this_minute


def test_a_therapist_charts_signs_and_adds_an_addendum(world, open_as):
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Rosa", last_name="Lind")
    # Booked as she walks in: a session is started on its own day only.
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ready_to_needle(patient, by=world.therapist),
        starts_at=this_minute(),
        by=world.front_desk,
    )
    booked_at = timezone.localtime(session.starts_at, world.kelowna.zone)
    page = open_as(world.therapist)

    page.goto(f"/sessions/?date={booked_at:%Y-%m-%d}")
    page.get_by_role("link", name=f"Open the session of Rosa Lind at {booked_at:%H:%M}").click()
    page.get_by_role("button", name="Start the session").click()
    expect(page.get_by_text("Session started")).to_be_visible()

    page.get_by_label("Presenting complaint").fill("Ache in the right shoulder blade")
    page.get_by_label("Pain before (0 to 10)").fill("6")
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()

    # The first site: a point on the back view, chosen with the keyboard.
    page.get_by_role("link", name="Gluteus medius, left", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Muscle", exact=True)).to_have_value("gluteus-medius")
    expect(page.locator("#risk-prompt")).to_be_hidden()
    page.get_by_label("Depth (mm)").fill("30")
    page.get_by_label("Needle lot number").fill("lot-2026-11")
    page.get_by_role("radio", name="Some").check()
    page.get_by_role("button", name="Add needle site").click()
    expect(page.get_by_role("row", name="Gluteus medius")).to_be_visible()

    # The second: a point over the lung apex, which needs the risk acknowledged.
    page.get_by_role("link", name="Upper trapezius, right, pneumothorax risk").click()
    expect(page.locator("#risk-prompt")).to_be_visible()
    page.get_by_label("Depth (mm)").fill("12")
    page.get_by_role("radio", name="Many").check()
    page.get_by_label("I have considered the pneumothorax risk").check()
    page.get_by_role("button", name="Add needle site").click()
    expect(page.get_by_role("row", name="Upper trapezius")).to_be_visible()
    expect(page.get_by_text("2 needles charted at the sites.")).to_be_visible()

    page.get_by_label("Needles inserted").fill("2")
    page.get_by_label("Needles removed").fill("2")
    ended = timezone.localtime(this_minute(), world.kelowna.zone)  # the needles are out now
    page.get_by_label("Needling ended at").fill(f"{ended:%Y-%m-%dT%H:%M}")
    page.get_by_label("Pain after (0 to 10)").fill("3")
    page.get_by_role("button", name="Review and sign").click()  # saves the draft first
    # The confirmation: what will be signed and locked, and what the patient will get.
    expect(page.get_by_role("heading", name="Sign and lock this chart")).to_be_visible()
    expect(page.locator("#changed-since")).to_have_count(0)  # its own saves are no change
    expect(page.locator("#needle-count")).to_contain_text("2 at 2 sites")
    expect(page.locator("#needling-times")).to_contain_text(f"{ended:%H:%M}")
    expect(page.locator("#signing-aftercare")).to_contain_text("Upper trapezius (right)")
    assert TreatmentSession.objects.get(pk=session.pk).status == Status.IN_PROGRESS
    page.get_by_role("button", name="Sign and lock").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed by")).to_be_visible()
    expect(page.locator("#needling-times")).to_contain_text(f"{ended:%H:%M}")
    expect(page.get_by_text("Ache in the right shoulder blade")).to_be_visible()

    page.get_by_label("Addendum").fill("Phoned the next day: soreness settling.")
    page.get_by_role("button", name="Add the addendum").click()
    expect(page.get_by_text("Phoned the next day: soreness settling.")).to_be_visible()

    session = TreatmentSession.objects.get(pk=session.pk)
    assert session.status == Status.SIGNED
    chart = Chart.objects.get(session=session)
    assert (chart.pain_before, chart.pain_after, chart.needles_removed) == (6, 3, 2)
    assert chart.needling_ended_at == ended
    sites = NeedleSite.objects.filter(session=session).order_by("recorded_at")
    assert [(s.muscle.code, s.side, s.lot_number) for s in sites] == [
        ("gluteus-medius", "left", "LOT-2026-11"),
        ("upper-trapezius", "right", "LOT-2026-11"),
    ]
    assert sites[1].risk_acknowledged_by == world.therapist


def started(world):
    """A session at Kelowna booked for now and started by the therapist: its chart is open."""
    return started_session(
        patient=ready_to_needle(PatientFactory(home_clinic=world.kelowna), by=world.therapist),
        therapist=world.therapist,
    )


def test_a_session_of_another_day_says_when_it_can_be_started(world, open_as):
    patient = PatientFactory(home_clinic=world.kelowna, first_name="Rosa", last_name="Lind")
    tomorrow = tomorrow_at(9, clinic=world.kelowna)
    session = services.book_session(
        clinic=world.kelowna,
        therapist=world.therapist,
        patient=ready_to_needle(patient, by=world.therapist),
        starts_at=tomorrow,
        by=world.front_desk,
    )
    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")
    expect(page.get_by_text("it can be started on that day only")).to_be_visible()
    expect(page.get_by_role("button", name="Start the session")).to_have_count(0)


def test_text_typed_while_offline_is_saved_when_the_connection_is_back(world, open_as):
    session = started(world)
    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")

    page.context.set_offline(True)
    page.get_by_role("textbox", name="Assessment").fill(
        "Active trigger points, right infraspinatus"
    )
    expect(page.get_by_role("status").filter(has_text="Offline")).to_be_visible()
    assert Chart.objects.get(session=session).assessment == ""

    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    assert Chart.objects.get(session=session).assessment == (
        "Active trigger points, right infraspinatus"
    )


def test_text_typed_before_the_page_finished_loading_is_saved(world, open_as):
    """On a slow connection the chart can be typed in before its script arrives."""
    session = started(world)
    page = open_as(world.therapist)
    held = []
    page.route("**/chart.js", lambda route: held.append(route))  # the script is on its way
    page.goto(f"/sessions/{session.pk}/", wait_until="commit")
    page.get_by_role("textbox", name="Assessment").fill("Taut band, right infraspinatus")
    assert len(held) == 1
    held[0].continue_()

    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    assert Chart.objects.get(session=session).assessment == "Taut band, right infraspinatus"


def test_a_colleagues_save_is_shown_and_nothing_is_overwritten(world, open_as):
    session = started(world)
    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")
    services.save_chart(session=session, by=world.manager, expected_version=1, plan="Weekly x4")

    page.get_by_role("textbox", name="Plan").fill("Fortnightly")

    expect(page.get_by_role("alert").filter(has_text="changed this chart")).to_be_visible()
    expect(page.get_by_text("Weekly x4")).to_be_visible()
    assert Chart.objects.get(session=session).plan == "Weekly x4"


def test_a_second_tab_of_the_same_therapist_gets_the_conflict_a_colleague_would(world, open_as):
    """About 6 s: a login and three autosaves, each a second after the typing stops."""
    session = started(world)
    first = open_as(world.therapist)
    first.goto(f"/sessions/{session.pk}/")
    second = first.context.new_page()  # the same login, another tab
    second.goto(f"/sessions/{session.pk}/")

    first.get_by_role("textbox", name="Plan").fill("Weekly x4")
    expect(first.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    second.get_by_role("textbox", name="Plan").fill("Fortnightly")

    expect(
        second.get_by_role("alert").filter(has_text="in another tab or on another device")
    ).to_be_visible()
    expect(second.get_by_text("Plan, as saved now:")).to_be_visible()
    expect(second.get_by_role("status")).to_contain_text("saved elsewhere")
    assert Chart.objects.get(session=session).plan == "Weekly x4"
    # The first tab saves on over its own versions.
    first.get_by_role("textbox", name="Objective findings").fill("Taut band")
    expect(first.get_by_role("status")).to_contain_text("Typing")
    expect(first.get_by_role("status")).to_contain_text("Saved at")
    chart = Chart.objects.get(session=session)
    assert (chart.plan, chart.findings) == ("Weekly x4", "Taut band")


def test_text_that_never_reached_the_server_is_offered_back_and_only_to_its_author(world, open_as):
    session = started(world)
    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")
    page.route("**/chart/", lambda route: route.abort())  # the connection drops on every save

    page.get_by_role("textbox", name="Objective findings").fill("Taut band, left levator")
    expect(page.get_by_role("status").filter(has_text="Offline")).to_be_visible()
    page.unroute("**/chart/")
    page.reload()

    expect(page.get_by_text("Text you typed on this device was not saved")).to_be_visible()
    page.get_by_role("textbox", name="Plan").fill("Review in a week")  # the offer stays
    page.get_by_role("button", name="Put it back and save").click()
    expect(page.get_by_role("textbox", name="Objective findings")).to_have_value(
        "Taut band, left levator"
    )
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible()
    chart = Chart.objects.get(session=session)
    assert (chart.findings, chart.plan) == ("Taut band, left levator", "Review in a week")

    colleague = open_as(world.manager)
    colleague.goto(f"/sessions/{session.pk}/")
    expect(colleague.get_by_text("was not saved")).to_have_count(0)


def test_a_risk_acknowledgement_is_asked_again_for_the_next_site(world, open_as):
    session = started(world)
    page = open_as(world.therapist)
    page.goto(f"/sessions/{session.pk}/")

    page.get_by_role("link", name="Upper trapezius, right, pneumothorax risk").click()
    page.get_by_label("I have considered the pneumothorax risk").check()
    page.get_by_role("link", name="Rhomboids, right, pneumothorax risk").click()

    expect(page.get_by_label("I have considered the pneumothorax risk")).not_to_be_checked()
