"""The intake: who records it, a second save over a newer one, surgeries with dates."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from patients import services
from patients.exceptions import EditConflict, NotPermitted
from patients.models import Channel, Intake, IntakeEvent, Surgery
from tests.patients.factories import PatientFactory

ANSWERS = {
    "presenting_complaint": "Pain between the shoulder blades",
    "pain_areas": ["upper_back", "neck"],
    "conditions": ["Asthma", " asthma ", ""],
    "medications": ["Salbutamol inhaler"],
    "allergies": ["Latex"],
    "activity_level": "moderate",
    "goals": "Play tennis again",
}


def save(patient, by, **changes):
    return services.save_intake(patient=patient, by=by, **{**ANSWERS, **changes})


def test_the_patient_fills_their_intake_at_home(world, patient):
    intake = save(
        patient, patient.user, surgeries=[("Knee arthroscopy", datetime.date(2019, 5, 1))]
    )
    assert intake.channel == Channel.PORTAL
    assert intake.conditions == ["Asthma"]  # blanks and repeats dropped
    assert intake.version == 1
    assert list(patient.surgeries.values_list("description", "performed_on")) == [
        ("Knee arthroscopy", datetime.date(2019, 5, 1))
    ]


def test_a_therapist_fills_it_on_a_clinic_tablet(world, patient):
    assert save(patient, world.therapist).channel == Channel.CLINIC


def test_the_front_desk_cannot_record_clinical_answers(world, patient):
    with pytest.raises(NotPermitted):
        save(patient, world.front_desk)
    assert not Intake.objects.exists()


def test_a_patient_cannot_fill_another_patients_intake(world, patient):
    other = PatientFactory(home_clinic=world.kelowna)
    with pytest.raises(NotPermitted):
        save(other, patient.user)


def test_saving_again_updates_the_one_intake_and_keeps_history(world, patient):
    save(patient, patient.user)
    intake = save(patient, world.therapist, expected_version=1, goals="Run a 10 km race")
    assert Intake.objects.count() == 1
    assert (intake.version, intake.goals) == (2, "Run a 10 km race")
    assert list(
        IntakeEvent.objects.filter(pgh_obj=intake)
        .order_by("pgh_id")
        .values_list("goals", flat=True)
    ) == ["Play tennis again", "Run a 10 km race"]


def test_a_save_over_a_newer_one_is_refused(world, patient):
    save(patient, patient.user)
    save(patient, world.therapist, expected_version=1, goals="Run a 10 km race")
    with pytest.raises(EditConflict) as refused:
        save(patient, patient.user, expected_version=1, goals="Swim")
    assert refused.value.field == "version"
    assert Intake.objects.get().goals == "Run a 10 km race"


def test_the_same_form_sent_twice_is_saved_once(world, patient):
    save(patient, patient.user)
    first = save(patient, patient.user, expected_version=1, goals="Swim")
    again = save(patient, patient.user, expected_version=1, goals="Swim")
    assert again.version == first.version == 2


def test_surgeries_are_replaced_by_the_list_given(world, patient):
    knee = ("Knee arthroscopy", datetime.date(2019, 5, 1))
    save(patient, patient.user, surgeries=[knee, ("Appendectomy", datetime.date(2001, 7, 9))])
    kept = Surgery.objects.get(description="Knee arthroscopy")
    save(patient, patient.user, surgeries=[knee])
    assert list(Surgery.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.parametrize(
    ("surgery", "message"),
    [
        (("Hip replacement", datetime.date.today() + datetime.timedelta(days=2)), "in the future"),
        (("  ", datetime.date(2019, 5, 1)), "say what the operation was"),
        (("Hip replacement", None), "give the date"),
    ],
)
def test_a_surgery_needs_a_description_and_a_past_date(world, patient, surgery, message):
    with pytest.raises(ValidationError) as refused:
        save(patient, patient.user, surgeries=[surgery])
    assert message in refused.value.message_dict["surgeries"][0]
    assert not Intake.objects.exists()
    assert not Surgery.objects.exists()


def test_an_unknown_pain_area_is_refused(world, patient):
    with pytest.raises(ValidationError) as refused:
        save(patient, patient.user, pain_areas=["elbow-ish"])
    assert "pain_areas" in refused.value.message_dict
