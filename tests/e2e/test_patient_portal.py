"""A patient on a phone answers the screening and signs consent; the therapist sees the result."""

from playwright.sync_api import expect

from patients.models import ConsentSignature, ScreeningResponse
from tests.browser import PHONE


def test_a_patient_screens_and_signs_on_a_phone_and_the_therapist_sees_the_flag(
    world, patient, open_as
):
    phone = open_as(patient.user, viewport=PHONE)
    expect(phone.get_by_role("heading", name="Hello, Pat")).to_be_visible()

    phone.get_by_role("link", name="Answer the questions").click()
    # locator.all() does not wait: without this it can read the page being left and check nothing.
    expect(phone.get_by_role("heading", name="Screening questions")).to_be_visible()
    questions = phone.locator("li.question").all()
    assert questions
    for question in questions:
        fearful = "afraid of needles" in question.inner_text()
        question.get_by_label("Yes" if fearful else "No", exact=True).check()
    phone.get_by_role("button", name="Save the answers").click()
    expect(phone.get_by_role("heading", name="Hello, Pat")).to_be_visible()

    phone.get_by_role("link", name="Read and sign").click()
    expect(phone.get_by_text("What dry needling is")).to_be_visible()
    phone.get_by_label("Full name of the person signing").fill("Pat Morgan")
    phone.get_by_role("button", name="Sign the consent").click()
    expect(phone.get_by_text("The consent is signed.")).to_be_visible()
    expect(phone.get_by_text("SHA-256 of the text")).to_be_visible()

    response = ScreeningResponse.objects.get(patient=patient)
    assert response.flags == ["needle_phobia"]
    signature = ConsentSignature.objects.get(patient=patient)
    assert (signature.channel, signature.signer_name) == ("portal", "Pat Morgan")

    desk = open_as(world.therapist)
    desk.goto(f"/patients/{patient.pk}/")
    expect(desk.get_by_text("Relative contraindication: Needle phobia")).to_be_visible()
    expect(desk.get_by_text("In force")).to_be_visible()
