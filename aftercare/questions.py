"""What a check-in asks, and in which words: written once, read by the form, the API, the
service that takes the answers and the triage.

After a session with dry needling a check-in asks every question of
CheckInAnswer.ANSWERS. After one without needling (manual therapy, exercise or
education) it asks nothing about where needles went in (no bruising question), and
asks the signs of infection of the treated area instead of a needle site. Chest pain
and shortness of breath are asked after every session: they are emergencies
whatever the treatment was.
"""

from dataclasses import dataclass

from aftercare.models import CheckIn, CheckInAnswer

NEEDLE_SITE_QUESTIONS = ("bruising",)
"""Asked only after needling: about the places the needles went in."""

NOT_ASKED = {"bruising": ""}
"""What an answer keeps for a question its check-in did not ask."""

WORDING = {
    "chest_pain": "Do you have chest pain?",
    "short_of_breath": "Are you short of breath, or does it hurt to breathe in?",
    "infection_signs": "Is there redness, warmth, swelling or pus where a needle went in, or "
    "do you have a fever?",
    "nerve_symptoms": "Do you have tingling, numbness or burning that has not gone away?",
    "soreness": "How sore are the treated muscles?",
    "pain": "How much pain do you have from the problem you came in with?",
    "trend": "Since your session, are your symptoms getting better or worse?",
    "bruising": "Any bruising where the needles went in?",
    "fatigue": "Do you feel tired?",
    "comments": "Anything else your therapist should know? (optional)",
}
"""Each question as the patient reads it, after a session with needling."""

WITHOUT_NEEDLING = {
    "infection_signs": "Is the treated area red, warm or swollen, or do you have a fever?",
}
"""The questions worded otherwise after a session without needling: no needle site."""


@dataclass(frozen=True)
class Question:
    name: str
    """The answer's name (CheckInAnswer.ANSWERS), as the API takes it."""
    text: str
    """The question as the patient reads it."""


def names(*, needling: bool) -> tuple[str, ...]:
    """The answers a check-in asks for, in the form's order (red flags first)."""
    return tuple(
        name for name in CheckInAnswer.ANSWERS if needling or name not in NEEDLE_SITE_QUESTIONS
    )


def wording(name: str, *, needling: bool) -> str:
    """The question `name` as the patient reads it."""
    return WORDING[name] if needling else WITHOUT_NEEDLING.get(name, WORDING[name])


def asked(check_in: CheckIn) -> tuple[str, ...]:
    """The answers `check_in` asks for. Reads its session (select it with the check-in)."""
    return names(needling=check_in.session.needling)


def questions_of(check_in: CheckIn) -> list[Question]:
    """The questions `check_in` asks, in order, each in the words the patient reads."""
    needling = check_in.session.needling
    return [Question(name, wording(name, needling=needling)) for name in names(needling=needling)]
