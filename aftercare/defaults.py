"""The aftercare advice every organisation starts with (version 1 of each), from the clinical
facts in DESIGN.md: one for sessions with dry needling, one for sessions without. An
organisation admin publishes versions of its own; an issued plan keeps the text it was
issued with."""

ADVICE_TITLE = "After your dry needling session"

ADVICE_BODY = """\
What to expect
Soreness in the treated muscles is normal. It usually starts within a few hours, is \
strongest 24 to 48 hours after the session and is gone by about 72 hours. You may see \
small bruises where the needles went in; they can last up to a week. Some people feel \
tired or stiff for a day.

Looking after yourself
- Drink plenty of water today and tomorrow.
- Keep moving: walk, and stretch the treated muscles gently.
- Heat helps the soreness: a warm pack, a warm shower or a warm bath.
- Put ice (wrapped in a cloth) on any swelling or bruising, 10 to 15 minutes at a time.
- Ask your therapist or pharmacist before taking anti-inflammatory medicine such as \
ibuprofen.
- Avoid alcohol, and go easy on caffeine, for the rest of the day.
- No strenuous exercise or heavy lifting for 24 to 48 hours.

When to get help
- Chest pain, shortness of breath, or pain when you breathe in: this can be a collapsed \
lung, which is rare but serious. Call emergency services or go to the nearest emergency \
department now. Do not drive yourself.
- Redness, warmth, swelling or pus where a needle went in, or a fever: call the clinic \
today.
- Tingling, numbness or burning that does not go away: call the clinic.
- Pain that is severe, getting worse, or still strong after 3 days: call the clinic.

We will check in
We will e-mail you a few short questions at about 24, 48 and 72 hours after your \
session. Your answers go to your therapist.
"""

WITHOUT_NEEDLING_TITLE = "After your session"
"""The advice of a session without needling (manual therapy, exercise or education): no
needle sites, so nothing about them, and no pneumothorax, which needling causes."""

WITHOUT_NEEDLING_BODY = """\
What to expect
After manual therapy or exercise, the treated muscles may feel sore or stiff, as after a \
workout. This usually starts within a day, is strongest 24 to 48 hours after the session \
and is gone by about 72 hours. Some people feel tired for a day.

Looking after yourself
- Keep moving: walk, and do the exercises your therapist gave you, gently at first.
- If an exercise hurts more than a little, do fewer, or stop and ask your therapist.
- Heat helps stiffness: a warm pack, a warm shower or a warm bath.
- Drink plenty of water.
- Rest from hard sport or heavy lifting for a day if the treated muscles are very sore.

When to get help
- Chest pain, shortness of breath, or pain when you breathe in: call emergency services or \
go to the nearest emergency department now. Do not drive yourself.
- Redness, warmth or swelling in the treated area, or a fever: call the clinic today.
- Tingling, numbness or burning that does not go away: call the clinic.
- Pain that is severe, getting worse, or still strong after 3 days: call the clinic.

We will check in
We will e-mail you a few short questions at about 24, 48 and 72 hours after your \
session. Your answers go to your therapist.
"""
