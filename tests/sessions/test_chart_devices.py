"""One therapist in two tabs or on two devices: each is its own writer of the chart.

A save started from an older version is built on only over the same writer's
own saves (its retry, or its save whose answer was lost); a save of the same
therapist from another tab, device or API client is a conflict exactly as a
colleague's is. Through the service, the chart page (its autosave and its form)
and the API (the `Fascia-Client` header).
"""

import re
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions import services
from sessions.exceptions import ChartConflict, ChartInvalid
from sessions.models import Chart, ChartEvent, ChartTemplate
from tests.accounts.factories import api_token_for
from tests.patients.factories import PatientFactory
from tests.sessions.factories import ready_to_needle, site_fields, started_session

LAPTOP, TABLET = "laptop-" + "a" * 12, "tablet-" + "b" * 12
"""Two clients of one therapist: two tabs, or a laptop and a tablet."""


@pytest.fixture
def session(world):
    """Ann Lee's session with the Kelowna therapist, started: an empty draft at version 1."""
    ann = PatientFactory(home_clinic=world.kelowna, first_name="Ann", last_name="Lee")
    ready_to_needle(ann, by=world.therapist)
    return started_session(patient=ann, therapist=world.therapist)


def save(session, by, version, client="", **fields):
    return services.save_chart(
        session=session, by=by, expected_version=version, client=client, **fields
    )


def saved_at(session) -> str:
    """When the chart was last saved, as the conflict says it (on the clinic's clock)."""
    chart = Chart.objects.get(session=session)
    return f"{timezone.localtime(chart.updated_at, session.clinic.zone):%H:%M}"


# The rule, in the service


def test_the_same_therapist_in_another_tab_is_refused_as_a_colleague_would_be(world, session):
    save(session, world.therapist, 1, LAPTOP, complaint="Neck pain since Monday")

    with pytest.raises(ChartConflict) as own_other_tab:
        save(session, world.therapist, 1, TABLET, complaint="Headache", plan="Heat")
    with pytest.raises(ChartConflict) as colleague:
        save(session, world.manager, 1, TABLET, complaint="Headache", plan="Heat")

    mine, theirs = own_other_tab.value, colleague.value
    assert mine.changed == theirs.changed == {"complaint": "Neck pain since Monday"}
    assert (mine.version, mine.saved_by) == (theirs.version, theirs.saved_by)
    assert mine.saved_by == world.therapist.get_full_name()
    assert mine.message == (
        f"You changed this chart at {saved_at(session)} in another tab or on another device, "
        "after this one opened it (changed: presenting complaint). Nothing from here was "
        "saved: look at that version, then make your change again."
    )
    assert theirs.message.startswith(f"{world.therapist.get_full_name()} changed this chart")
    chart = Chart.objects.get(session=session)
    assert (chart.complaint, chart.plan, chart.version) == ("Neck pain since Monday", "", 2)


def test_a_tabs_own_retry_and_its_save_after_a_lost_answer_are_accepted(world, session):
    first = save(session, world.therapist, 1, LAPTOP, complaint="Neck pain")
    # The very save again (its answer never came): nothing new, no new version.
    assert save(session, world.therapist, 1, LAPTOP, complaint="Neck pain").version == 2
    # The tab typed on, still at the version it knew: what it sends holds all it sent before.
    later = save(session, world.therapist, 1, LAPTOP, complaint="Neck pain", plan="Heat")

    assert (first.version, later.version) == (2, 3)
    chart = Chart.objects.get(session=session)
    assert (chart.complaint, chart.plan) == ("Neck pain", "Heat")


def test_each_version_keeps_the_client_that_saved_it_in_the_history(world, session):
    save(session, world.therapist, 1, LAPTOP, complaint="Neck pain")
    save(session, world.therapist, 2, TABLET, plan="Heat")
    services.add_needle_site(session=session, by=world.therapist, **site_fields())

    history = ChartEvent.objects.filter(pgh_obj_id=Chart.objects.get(session=session).pk)
    assert list(history.order_by("version").values_list("version", "updated_from")) == [
        (1, ""),
        (2, LAPTOP),
        (3, TABLET),
        (4, ""),  # a row: no client sends it, and it overwrites nothing
    ]


def test_saves_without_a_client_id_are_one_client_and_any_client_id_another(world, session):
    """Old API clients send none: their saves build on each other as before, but not on a
    tab's saves of the same therapist, nor a tab on theirs."""
    save(session, world.therapist, 1, complaint="Neck pain")
    assert save(session, world.therapist, 1, complaint="Neck pain", plan="Heat").version == 3

    with pytest.raises(ChartConflict):
        save(session, world.therapist, 1, LAPTOP, findings="Taut band")
    save(session, world.therapist, 3, LAPTOP, findings="Taut band")
    with pytest.raises(ChartConflict):
        save(session, world.therapist, 3, assessment="Trigger points")
    assert Chart.objects.get(session=session).version == 4


def test_rows_added_since_by_anyone_never_make_a_conflict(world, session):
    save(session, world.therapist, 1, LAPTOP, complaint="Neck pain")
    services.add_needle_site(session=session, by=world.manager, **site_fields())

    chart = save(session, world.therapist, 1, LAPTOP, complaint="Neck pain", plan="Heat")

    assert (chart.version, chart.plan) == (4, "Heat")


def test_the_conflict_names_the_other_writer_not_the_tabs_own_later_save(world, session):
    save(session, world.therapist, 1, LAPTOP, complaint="Neck pain")
    save(session, world.manager, 2, TABLET, plan="Weekly x4")
    save(session, world.therapist, 3, LAPTOP, findings="Taut band")
    manager_saved = ChartEvent.objects.get(updated_by=world.manager).updated_at

    with pytest.raises(ChartConflict) as conflict:
        save(session, world.therapist, 1, LAPTOP, complaint="Neck pain, left", plan="Heat")

    assert conflict.value.saved_by == world.manager.get_full_name()
    assert conflict.value.saved_at == manager_saved
    assert conflict.value.message.startswith(world.manager.get_full_name())
    assert conflict.value.changed == {
        "complaint": "Neck pain",
        "findings": "Taut band",
        "plan": "Weekly x4",
    }


def test_a_template_applied_from_another_tab_is_refused_too(world, session):
    template = ChartTemplate.objects.create(
        organization=world.organization, name="Neck", plan="Review in a week"
    )
    save(session, world.therapist, 1, LAPTOP, plan="Heat")

    with pytest.raises(ChartConflict):
        services.apply_template(
            session=session,
            by=world.therapist,
            template=template,
            expected_version=1,
            client=TABLET,
        )
    applied = services.apply_template(
        session=session, by=world.therapist, template=template, expected_version=1, client=LAPTOP
    )
    assert (applied.plan, applied.template, applied.updated_from) == ("Heat", template, LAPTOP)


@pytest.mark.parametrize("client", ["short", "x" * 65, "tab one 1234", "tab/1234567", "é" * 10])
def test_a_client_id_that_is_not_one_is_refused_naming_the_field(world, session, client):
    with pytest.raises(ChartInvalid) as refused:
        save(session, world.therapist, 1, client, plan="Heat")
    assert refused.value.field == "client"
    assert refused.value.message.startswith(
        "client: a client id is 8 to 64 letters, digits, hyphens or underscores"
    )
    assert Chart.objects.get(session=session).version == 1


# The chart page: its autosave and its form


def page(session, name="detail"):
    return reverse(f"sessions:{name}", kwargs={"session_id": session.pk})


def chart_form(chart, client, **changes) -> dict:
    fields = {name: getattr(chart, name) for name in Chart.FIELDS}
    fields.update(changes)
    return {
        "version": str(chart.version),
        "client": client,
        **{name: "" if value is None else str(value) for name, value in fields.items()},
    }


AUTOSAVE = {"HTTP_ACCEPT": "application/json"}


def test_two_tabs_autosaving_get_the_conflict_two_therapists_get(world, client_of, session):
    chart = Chart.objects.get(session=session)
    first_tab, second_tab = client_of(world.therapist), client_of(world.therapist)
    colleague = client_of(world.manager)

    saved = first_tab.post(
        page(session, "save_chart"), chart_form(chart, LAPTOP, complaint="Neck pain"), **AUTOSAVE
    )
    assert saved.status_code == 200 and saved.json()["version"] == 2
    mine = second_tab.post(
        page(session, "save_chart"), chart_form(chart, TABLET, plan="Heat"), **AUTOSAVE
    )
    theirs = colleague.post(
        page(session, "save_chart"), chart_form(chart, TABLET, plan="Heat"), **AUTOSAVE
    )

    assert mine.status_code == theirs.status_code == 409
    assert mine.json().keys() == theirs.json().keys()
    assert (
        mine.json()["changed"] == theirs.json()["changed"] == {"Presenting complaint": "Neck pain"}
    )
    assert mine.json()["detail"].startswith("You changed this chart at")
    assert "in another tab or on another device" in mine.json()["detail"]
    chart.refresh_from_db()
    assert (chart.complaint, chart.plan, chart.version) == ("Neck pain", "", 2)

    # The first tab, whose answer was lost, saves again from version 1: its own save.
    again = first_tab.post(
        page(session, "save_chart"),
        chart_form(chart, LAPTOP, plan="Heat") | {"version": "1"},
        **AUTOSAVE,
    )
    assert again.status_code == 200 and again.json()["version"] == 3


def test_the_page_gives_each_load_its_own_client_id_for_its_forms(world, client_of, session):
    """Without JavaScript the form still sends one: a fresh id for every page load."""
    ChartTemplate.objects.create(organization=world.organization, name="Neck", plan="Heat")
    therapist = client_of(world.therapist)
    first = client_ids(therapist.get(page(session)).content.decode())
    second = client_ids(therapist.get(page(session)).content.decode())
    assert len(first) == 2 and first[0] == first[1]  # the chart's form and the template's
    assert first[0] != second[0]

    chart = Chart.objects.get(session=session)
    saved = therapist.post(page(session, "save_chart"), chart_form(chart, first[0], plan="Heat"))
    assert saved.status_code == 302
    assert Chart.objects.get(session=session).updated_from == first[0]


def client_ids(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="client" value="([^"]*)"', html)


def test_a_form_saved_in_another_tab_is_sent_back_with_what_is_saved_now(world, client_of, session):
    chart = Chart.objects.get(session=session)
    first_tab, second_tab = client_of(world.therapist), client_of(world.therapist)
    first_tab.post(page(session, "save_chart"), chart_form(chart, LAPTOP, findings="Taut band"))

    refused = second_tab.post(
        page(session, "save_chart"), chart_form(chart, TABLET, findings="Tender point")
    )

    assert refused.status_code == 409
    text = refused.content.decode()
    assert "You changed this chart at" in text and "in another tab or on another device" in text
    assert "What is saved now" in text and "Taut band" in text and "Tender point" in text
    assert 'name="version" value="2"' in text
    assert Chart.objects.get(session=session).findings == "Taut band"


def test_a_page_save_with_a_broken_client_id_is_refused_naming_it(world, client_of, session):
    chart = Chart.objects.get(session=session)
    answer = client_of(world.therapist).post(
        page(session, "save_chart"), chart_form(chart, "<script>", plan="Heat"), **AUTOSAVE
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "client"
    assert answer.json()["detail"].startswith("This page's client id: a client id is 8 to 64")
    assert Chart.objects.get(session=session).version == 1


# The API: the Fascia-Client header


JSON = "application/json"


def chart_url(session, name="chart"):
    return reverse(f"session-{name}", args=[session.pk])


def patch(client, session, body, *, version, device=None):
    headers = {"If-Match": f'"{version}"'}
    if device is not None:
        headers["Fascia-Client"] = device
    return client.patch(chart_url(session), body, content_type=JSON, headers=headers)


def token_client(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_for(user)}"})


def test_two_devices_of_one_token_get_the_412_two_therapists_get(world, client_of, session):
    devices = token_client(world.therapist)
    colleague = client_of(world.manager)
    assert (
        patch(devices, session, {"plan": "Weekly x4"}, version=1, device=LAPTOP).status_code == 200
    )

    mine = patch(devices, session, {"plan": "Discharge"}, version=1, device=TABLET)
    theirs = patch(colleague, session, {"plan": "Discharge"}, version=1, device=TABLET)

    assert mine.status_code == theirs.status_code == 412
    body = mine.json()
    assert body.keys() == theirs.json().keys()
    assert (body["code"], list(body["fields"]), body["version"]) == (
        "edit_conflict",
        ["If-Match"],
        2,
    )
    assert body["changed"] == theirs.json()["changed"] == {"plan": "Weekly x4"}
    assert body["saved_by"] == world.therapist.get_full_name()
    assert body["detail"].startswith("You changed this chart at")
    assert Chart.objects.get(session=session).plan == "Weekly x4"

    # The laptop's save whose answer was lost, sent again from version 1 with more: its own.
    retried = patch(
        devices, session, {"plan": "Weekly x4", "findings": "Taut band"}, version=1, device=LAPTOP
    )
    assert retried.status_code == 200
    assert retried["ETag"] == '"3"'


def test_without_the_header_saves_count_as_one_client(world, session):
    """An API client from before client ids: its saves build on each other as they did, but a
    device that sends an id is another writer."""
    old = token_client(world.therapist)
    assert patch(old, session, {"plan": "Weekly x4"}, version=1).status_code == 200
    assert (
        patch(old, session, {"plan": "Weekly x4", "assessment": "TrPs"}, version=1).status_code
        == 200
    )
    assert (
        patch(old, session, {"findings": "Taut band"}, version=1, device=LAPTOP).status_code == 412
    )
    assert (
        patch(old, session, {"findings": "Taut band"}, version=3, device=LAPTOP).status_code == 200
    )
    assert patch(old, session, {"complaint": "Neck"}, version=3).status_code == 412


@pytest.mark.parametrize("device", ["", "short", "x" * 65, "laptop one 2026", "laptop/2026-11"])
def test_a_malformed_client_header_is_400_naming_it(world, session, device):
    answer = patch(
        token_client(world.therapist), session, {"plan": "Heat"}, version=1, device=device
    )
    if device == "":  # an empty header is no header
        assert answer.status_code == 200
        return
    assert answer.status_code == 400
    body = answer.json()
    assert list(body["fields"]) == ["Fascia-Client"]
    assert body["detail"].startswith("Fascia-Client: a client id is 8 to 64 letters")
    assert Chart.objects.get(session=session).version == 1


def test_a_template_over_the_api_from_another_device_is_409(world, session):
    template = ChartTemplate.objects.create(
        organization=world.organization, name="Neck", plan="Review in a week"
    )
    devices = token_client(world.therapist)
    patch(devices, session, {"plan": "Heat"}, version=1, device=LAPTOP)

    def apply(device):
        return devices.post(
            chart_url(session, "chart-template"),
            {"template": str(template.pk), "version": 1},
            content_type=JSON,
            headers={"Fascia-Client": device},
        )

    refused = apply(TABLET)
    assert refused.status_code == 409
    assert refused.json()["code"] == "edit_conflict"
    assert apply(LAPTOP).status_code == 200


def test_the_schema_documents_the_client_header_on_chart_saves(world, client_of):
    schema = client_of(world.therapist).get(reverse("api-schema"), {"format": "json"}).json()
    chart = schema["paths"]["/api/v1/sessions/{id}/chart/"]["patch"]
    template = schema["paths"]["/api/v1/sessions/{id}/chart/template/"]["post"]
    for operation in (chart, template):
        header = next(p for p in operation["parameters"] if p["name"] == "Fascia-Client")
        assert (header["in"], header.get("required", False)) == ("header", False)
        assert header["schema"]["pattern"] == "^[A-Za-z0-9_-]{8,64}$"
        assert "another client id" in header["description"]


# The race: one token, five devices saving at once


@pytest.mark.django_db(transaction=True)
def test_five_devices_of_one_token_racing_only_saves_from_the_current_version_land(world, session):
    """Each round, five devices read the ETag, then all save over it at once: one lands, four
    are refused (the issue found 209 of 213 stale saves accepted). Committed rows and a
    connection per thread make it a real race: hence a transactional test."""
    token = api_token_for(world.therapist)
    devices, rounds = 5, 4
    barrier = threading.Barrier(devices, timeout=30)
    answers = []  # (round, device, If-Match sent, status, ETag answered)
    lock = threading.Lock()

    def device(number):
        client = Client(headers={"Authorization": f"Bearer {token}"})
        client_id = f"device-{number}-{uuid.uuid4().hex}"
        try:
            for round_ in range(rounds):
                barrier.wait()  # every save of the round before has answered
                read = client.get(chart_url(session))["ETag"]
                barrier.wait()  # every device has read: now all save at once
                saved = client.patch(
                    chart_url(session),
                    {"plan": f"Round {round_}, device {number}"},
                    content_type=JSON,
                    headers={"If-Match": read, "Fascia-Client": client_id},
                )
                with lock:
                    answers.append(
                        (round_, number, int(read.strip('"')), saved.status_code, saved.get("ETag"))
                    )
        finally:
            connection.close()

    threads = [threading.Thread(target=device, args=(n,)) for n in range(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == devices * rounds
    for round_ in range(rounds):
        this_round = [answer for answer in answers if answer[0] == round_]
        assert len({sent for _, _, sent, _, _ in this_round}) == 1  # all read one version
        statuses = sorted(status for _, _, _, status, _ in this_round)
        assert statuses == [200] + [412] * (devices - 1), this_round
    landed = [(sent, etag) for _, _, sent, status, etag in answers if status == 200]
    assert all(etag == f'"{sent + 1}"' for sent, etag in landed)  # none built on a stale one
    chart = Chart.objects.get(session=session)
    assert chart.version == 1 + rounds
