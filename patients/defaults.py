"""The screening questions and consent text every organisation starts with (version 1).

Built from the clinical facts in DESIGN.md. An organisation admin publishes
new versions of its own; these never change under a signed record, because
every response and signature keeps the version (and, for consent, the text).
"""

from patients.contraindications import Contraindication

SCREENING_TITLE = "Dry needling screening"

# (key, question, help text, contraindication a "yes" raises)
SCREENING_QUESTIONS = [
    (
        "infection",
        "Do you have an infection, a fever, or broken, irritated or infected skin "
        "where you are to be treated?",
        "",
        Contraindication.ACTIVE_INFECTION,
    ),
    (
        "pregnancy",
        "Are you pregnant, or could you be?",
        "",
        Contraindication.PREGNANCY,
    ),
    (
        "immune_system",
        "Is your immune system weakened?",
        "For example by chemotherapy, HIV, an organ transplant or long-term steroids.",
        Contraindication.IMMUNOCOMPROMISED,
    ),
    (
        "recent_surgery",
        "Have you had surgery in the last 8 weeks?",
        "",
        Contraindication.RECENT_SURGERY,
    ),
    (
        "blood_thinners",
        "Do you take blood thinners?",
        "For example warfarin, apixaban, rivaroxaban, dabigatran, clopidogrel or daily aspirin.",
        Contraindication.BLOOD_THINNERS,
    ),
    (
        "bleeding_disorder",
        "Do you have a bleeding disorder, such as haemophilia, or bruise very easily?",
        "",
        Contraindication.BLEEDING_DISORDER,
    ),
    (
        "needle_phobia",
        "Are you very afraid of needles?",
        "",
        Contraindication.NEEDLE_PHOBIA,
    ),
    (
        "fainting",
        "Have you ever fainted or felt faint during an injection, a blood test or acupuncture?",
        "",
        Contraindication.FAINTING,
    ),
    (
        "metal_allergy",
        "Are you allergic to metals such as nickel or chromium?",
        "",
        Contraindication.METAL_ALLERGY,
    ),
    (
        "lymphoedema",
        "Do you have lymphoedema (lasting swelling, for example after lymph nodes were removed)?",
        "",
        Contraindication.LYMPHOEDEMA,
    ),
    (
        "epilepsy",
        "Do you have epilepsy or seizures that are not well controlled?",
        "",
        Contraindication.EPILEPSY,
    ),
    (
        "diabetes",
        "Do you have diabetes?",
        "Wounds can heal more slowly.",
        Contraindication.DIABETES,
    ),
    (
        "implanted_device",
        "Do you have a pacemaker or another implanted electrical device?",
        "",
        Contraindication.IMPLANTED_DEVICE,
    ),
]

CONSENT_TITLE = "Consent to dry needling"

CONSENT_BODY = """\
What dry needling is
Dry needling is a treatment in which your therapist inserts thin, sterile, single-use \
needles through the skin into muscle, usually into tight bands or trigger points. No \
medicine is injected. The aim is to ease pain and muscle tension and to help you move \
better. Your therapist will explain where and why they plan to needle before they begin.

What to expect afterwards
Soreness in the treated muscles is common. It usually starts within hours, is strongest \
24 to 48 hours after the session and is gone by about 72 hours. Bruising at a needle site \
can last up to a week. You may feel tired, stiff or light-headed for a short time.

Rare risks
- Fainting or feeling faint during or just after treatment.
- Infection at a needle site.
- Irritation of a nerve, felt as tingling, numbness or burning that lasts.
- Pneumothorax (a collapsed lung) when needling over the chest, upper back, neck or \
shoulder. It is rare, and more likely in slender people. Chest pain, shortness of breath \
or pain on breathing in the hours or days after treatment need emergency care at once.

What I confirm
- I have answered the screening questions truthfully and will tell my therapist about \
any change in my health, medication or pregnancy.
- I have been able to ask questions and they were answered.
- I agree to dry needling as explained to me.

My right to withdraw
Taking part is my choice. I can withdraw this consent at any time, before or during \
any session, without giving a reason, and it will not affect the rest of my care.
"""
