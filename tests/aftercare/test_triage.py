"""Every triage rule, and the level of answers that match several."""

import pytest

from aftercare import triage
from aftercare.models import Triage


def assess(hours_after=24, **changes):
    answers = {
        "soreness": 3,
        "pain": 2,
        "trend": "better",
        "chest_pain": False,
        "short_of_breath": False,
        "infection_signs": False,
        "nerve_symptoms": False,
        "hours_after": hours_after,
        **changes,
    }
    return triage.assess(triage.Answers(**answers))


def test_expected_soreness_is_filed_on_the_session():
    result = assess(soreness=6, pain=5, trend="worse", hours_after=24)
    assert result.level == Triage.FILED
    assert result.reasons == ()


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"chest_pain": True}, "Chest pain"),
        ({"short_of_breath": True}, "Shortness of breath or pain on breathing"),
    ],
)
def test_chest_pain_or_breathlessness_is_an_emergency(answers, reason):
    result = assess(**answers)
    assert result.level == Triage.URGENT
    assert result.is_emergency
    assert result.reasons == (reason,)


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"infection_signs": True}, "Signs of infection: redness, warmth, swelling, pus or fever"),
        ({"nerve_symptoms": True}, "Lasting tingling, numbness or burning"),
        ({"pain": 8}, "Severe pain (8/10)"),
        ({"trend": "worse", "hours_after": 48}, "Getting worse at 48 h"),
        ({"soreness": 5, "hours_after": 72}, "Soreness still 5/10 at 72 h"),
    ],
)
def test_warning_signs_raise_an_alert(answers, reason):
    result = assess(**answers)
    assert result.level == Triage.ALERT
    assert not result.is_emergency
    assert result.reasons == (reason,)


@pytest.mark.parametrize(
    "answers",
    [
        {"pain": 7},
        {"trend": "worse", "hours_after": 47},
        {"soreness": 4, "hours_after": 72},
        {"soreness": 9, "hours_after": 48},
    ],
)
def test_just_below_each_threshold_is_filed(answers):
    assert assess(**answers).level == Triage.FILED


def test_the_most_urgent_rule_decides_and_every_reason_is_kept():
    result = assess(chest_pain=True, infection_signs=True, pain=9, hours_after=72, soreness=7)
    assert result.level == Triage.URGENT
    assert result.reasons == (
        "Chest pain",
        "Signs of infection: redness, warmth, swelling, pus or fever",
        "Severe pain (9/10)",
        "Soreness still 7/10 at 72 h",
    )
