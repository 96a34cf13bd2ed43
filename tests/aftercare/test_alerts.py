"""Alerts: acknowledging and resolving them, and escalating an urgent one nobody took up."""

import datetime

import pytest
import time_machine
from django.core import mail

from aftercare import services, tasks
from aftercare.exceptions import AftercareInvalid, AlertStateRefused, NotPermitted
from aftercare.models import Alert, AlertNote
from clinics.models import Membership, Role
from tests.aftercare.factories import answer_when_due, first_check_in, signed_session

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def urgent(world, patient) -> Alert:
    session = signed_session(patient, therapist=world.therapist)
    answer_when_due(first_check_in(session), by=patient.user, short_of_breath=True)
    return Alert.objects.get()


def catch_up_at(moment):
    with time_machine.travel(moment, tick=False):
        return tasks.catch_up.enqueue().return_value["alerts_escalated"]


def test_an_urgent_alert_not_acknowledged_in_time_is_escalated_to_the_clinic_manager_once(
    world, urgent
):
    assert catch_up_at(urgent.escalate_at - MINUTE) == 0
    assert mail.outbox == []
    assert catch_up_at(urgent.escalate_at) == 1
    assert catch_up_at(urgent.escalate_at + 10 * MINUTE) == 0
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    assert "not acknowledged" in mail.outbox[0].subject
    assert urgent.patient.last_name not in mail.outbox[0].body
    urgent.refresh_from_db()
    assert urgent.escalated_at == urgent.escalate_at
    note = AlertNote.objects.get(alert=urgent)
    assert (note.kind, note.written_by) == ("escalated", None)
    assert world.manager.get_full_name() in note.text


def test_an_acknowledged_alert_is_not_escalated(world, urgent):
    with time_machine.travel(urgent.escalate_at - MINUTE, tick=False):
        services.acknowledge_alert(alert=urgent, by=world.therapist)
    assert catch_up_at(urgent.escalate_at + MINUTE) == 0
    assert mail.outbox == []


def test_the_escalation_time_is_the_organisations(world, patient):
    services.save_settings(
        organization=world.organization,
        by=world.org_admin,
        check_in_hours=[24],
        escalate_after_minutes=10,
    )
    session = signed_session(patient, therapist=world.therapist)
    answer_when_due(first_check_in(session), by=patient.user, chest_pain=True)
    alert = Alert.objects.get()
    assert alert.escalate_at - alert.raised_at == 10 * MINUTE


def test_without_a_clinic_manager_the_organisation_admins_are_told(world, urgent):
    Membership.objects.filter(role=Role.CLINIC_MANAGER).delete()
    assert catch_up_at(urgent.escalate_at) == 1
    assert [m.to for m in mail.outbox] == [[world.org_admin.email]]


def test_a_failed_escalation_is_tried_again(world, urgent, settings):
    working = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "tests.aftercare.test_check_ins.RefusingBackend"}}
    assert catch_up_at(urgent.escalate_at) == 0
    urgent.refresh_from_db()
    assert urgent.escalated_at is None
    settings.MAILERS = working
    assert catch_up_at(urgent.escalate_at + 5 * MINUTE) == 1
    assert len(mail.outbox) == 1


def test_acknowledging_twice_is_one_acknowledgement_and_a_late_note_is_kept(world, urgent):
    first = services.acknowledge_alert(alert=urgent, by=world.therapist, note="Calling now")
    again = services.acknowledge_alert(alert=urgent, by=world.therapist)
    assert first.acknowledged_by == again.acknowledged_by == world.therapist
    with pytest.raises(AlertStateRefused, match="To acknowledge it too, write") as refusal:
        services.acknowledge_alert(alert=urgent, by=world.manager)
    assert refusal.value.field == "note"
    services.acknowledge_alert(alert=urgent, by=world.manager, note="In A&E now")
    services.acknowledge_alert(alert=urgent, by=world.manager, note="In A&E now")  # sent twice
    urgent.refresh_from_db()
    assert urgent.acknowledged_by == world.therapist
    assert list(AlertNote.objects.values_list("kind", "written_by", "text")) == [
        ("acknowledged", world.therapist.pk, "Calling now"),
        ("acknowledged", world.manager.pk, "In A&E now"),
    ]


def test_a_resolved_alert_takes_no_more_acknowledgements(world, urgent):
    services.resolve_alert(alert=urgent, by=world.therapist, note="Seen in A&E, no pneumothorax")
    with pytest.raises(AlertStateRefused, match="resolved this alert already") as refusal:
        services.acknowledge_alert(alert=urgent, by=world.manager, note="Late")
    assert refusal.value.field == "note"


def test_the_therapist_is_told_at_once_and_again_when_the_mail_server_was_down(
    world, patient, settings, django_capture_on_commit_callbacks
):
    session = signed_session(patient, therapist=world.therapist)
    working = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "tests.aftercare.test_check_ins.RefusingBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        answer_when_due(first_check_in(session), by=patient.user, infection_signs=True)
    alert = Alert.objects.get()
    settings.MAILERS = working
    assert services.notify_alert(alert_id=alert.pk, attempt=2) == "sent"
    assert [m.to for m in mail.outbox] == [[world.therapist.email]]


def test_an_alert_for_a_therapist_who_left_goes_to_the_clinic_manager(world, patient):
    session = signed_session(patient, therapist=world.therapist)
    answer_when_due(first_check_in(session), by=patient.user, infection_signs=True)
    world.therapist.is_active = False
    world.therapist.save(update_fields=["is_active"])
    assert services.notify_alert(alert_id=Alert.objects.get().pk) == "sent"
    assert [m.to for m in mail.outbox] == [[world.manager.email]]


def test_resolving_needs_a_note_and_acknowledges_too(world, urgent):
    with pytest.raises(AftercareInvalid) as refusal:
        services.resolve_alert(alert=urgent, by=world.manager, note="   ")
    assert refusal.value.field == "note"
    alert = services.resolve_alert(alert=urgent, by=world.manager, note="X-ray clear.")
    assert alert.acknowledged_by == alert.resolved_by == world.manager
    assert list(AlertNote.objects.values_list("kind", flat=True)) == ["acknowledged", "resolved"]
    assert services.resolve_alert(alert=urgent, by=world.manager, note="X-ray clear.") == alert
    with pytest.raises(AlertStateRefused, match="already resolved by"):
        services.resolve_alert(alert=urgent, by=world.therapist, note="Other note")
    assert catch_up_at(urgent.escalate_at) == 0


@pytest.mark.parametrize("who", ["front_desk", "vernon_therapist", "other_admin"])
def test_only_clinical_staff_of_the_clinic_act_on_an_alert(world, urgent, who):
    for act in (
        lambda: services.acknowledge_alert(alert=urgent, by=getattr(world, who)),
        lambda: services.resolve_alert(alert=urgent, by=getattr(world, who), note="Done"),
    ):
        with pytest.raises(NotPermitted):
            act()
    with pytest.raises(NotPermitted):  # whatever the note: the role is refused first
        services.resolve_alert(alert=urgent, by=getattr(world, who), note="")
    urgent.refresh_from_db()
    assert urgent.acknowledged_at is None
    assert not AlertNote.objects.exists()
