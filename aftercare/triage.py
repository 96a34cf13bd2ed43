"""Triage of check-in answers: every rule in one place, read top to bottom.

A rule that matches adds its reason; the answer takes the most urgent level
among the rules that matched. URGENT means emergency care now (the patient is
told so at once, with the clinic's emergency number) and an urgent alert for
the therapist and the clinic; ALERT means the therapist must look; anything
else is filed on the session.

The thresholds come from the clinical facts in DESIGN.md: soreness peaks at
24-48 h and is gone by about 72 h; chest pain, shortness of breath or pain on
breathing may be a pneumothorax (emergency care now); signs of infection,
lasting nerve symptoms, and pain that is severe, worsening or past 72 h need
the therapist. After a session without needling there is no needle site: the signs
of infection are those of the treated area (aftercare.questions), and chest pain or
shortness of breath are as urgent as ever.
"""

from collections.abc import Callable
from dataclasses import dataclass

from aftercare.models import Trend, Triage

SEVERE_PAIN = 8
"""Pain at or above this (0-10) is severe."""

WORSENING_FROM_HOURS = 48
"""Soreness may still be building before 48 h; "worse" from then on is not expected."""

SORENESS_STILL_HIGH = 5
"""Soreness at or above this (0-10) at 72 h or later is still high: it should be fading."""

SORENESS_SHOULD_FADE_BY_HOURS = 72


@dataclass(frozen=True)
class Answers:
    """A check-in's answers, as the rules read them."""

    soreness: int
    pain: int
    trend: str
    chest_pain: bool
    short_of_breath: bool
    infection_signs: bool
    nerve_symptoms: bool
    hours_after: int
    needling: bool = True
    """The session included dry needling; False: manual therapy, exercise or education."""


@dataclass(frozen=True)
class Rule:
    level: Triage
    reason: Callable[[Answers], str]
    matches: Callable[[Answers], bool]


URGENT_QUESTIONS = {
    "chest_pain": "Chest pain",
    "short_of_breath": "Shortness of breath or pain on breathing",
}
"""The questions whose "yes" alone is an emergency, with the reason each gives. A "yes" to
one of them is filed at once, even with other answers missing (services.submit_check_in)."""

RULES = [
    Rule(Triage.URGENT, lambda a: URGENT_QUESTIONS["chest_pain"], lambda a: a.chest_pain),
    Rule(
        Triage.URGENT,
        lambda a: URGENT_QUESTIONS["short_of_breath"],
        lambda a: a.short_of_breath,
    ),
    Rule(
        Triage.ALERT,
        lambda a: (
            "Signs of infection: redness, warmth, swelling, pus or fever"
            if a.needling
            else "Redness, warmth or swelling in the treated area, or a fever"
        ),
        lambda a: a.infection_signs,
    ),
    Rule(
        Triage.ALERT,
        lambda a: "Lasting tingling, numbness or burning",
        lambda a: a.nerve_symptoms,
    ),
    Rule(Triage.ALERT, lambda a: f"Severe pain ({a.pain}/10)", lambda a: a.pain >= SEVERE_PAIN),
    Rule(
        Triage.ALERT,
        lambda a: f"Getting worse at {a.hours_after} h",
        lambda a: a.trend == Trend.WORSE and a.hours_after >= WORSENING_FROM_HOURS,
    ),
    Rule(
        Triage.ALERT,
        lambda a: f"Soreness still {a.soreness}/10 at {a.hours_after} h",
        lambda a: (
            a.soreness >= SORENESS_STILL_HIGH and a.hours_after >= SORENESS_SHOULD_FADE_BY_HOURS
        ),
    ),
]

_ORDER = [Triage.FILED, Triage.ALERT, Triage.URGENT]


@dataclass(frozen=True)
class Assessment:
    level: Triage
    reasons: tuple[str, ...]

    @property
    def is_emergency(self) -> bool:
        return self.level == Triage.URGENT


def assess(answers: Answers) -> Assessment:
    matched = [rule for rule in RULES if rule.matches(answers)]
    level = max((rule.level for rule in matched), key=_ORDER.index, default=Triage.FILED)
    return Assessment(level=level, reasons=tuple(rule.reason(answers) for rule in matched))


def assess_red_flags(questions: list[str]) -> Assessment:
    """The red flags reported before the rest of the answers: urgent, whatever the rest."""
    reasons = tuple(
        URGENT_QUESTIONS[question] for question in URGENT_QUESTIONS if question in questions
    )
    if not reasons:
        return Assessment(level=Triage.FILED, reasons=())
    return Assessment(level=Triage.URGENT, reasons=reasons)
