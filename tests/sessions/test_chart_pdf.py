"""A signed chart as a PDF (WeasyPrint), read back with poppler's pdftotext."""

from django.urls import reverse
from django.utils import timezone

from patients.models import ReadVia, RecordPart, RecordRead
from tests.patients.test_record_pdf import assert_every_page_names, text_of
from tests.sessions.factories import ready_to_needle, started_session


def chart_pdf(session):
    return reverse("sessions:chart_pdf", args=[session.pk])


def test_the_signed_chart_as_a_pdf_carries_the_chart_the_addenda_and_the_signature(
    world, client_of, tmp_path
):
    ada = world.kelowna_record()
    session = ada.session
    response = client_of(world.therapist).get(chart_pdf(session))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    day = timezone.localtime(session.starts_at, world.kelowna.zone).date()
    assert response["Content-Disposition"] == (
        f'attachment; filename="chart-ada-quinn-{day:%Y-%m-%d}.pdf"'
    )
    assert response["Cache-Control"] == "no-store"
    pages = text_of(response.content, tmp_path)
    assert_every_page_names(pages, ada.patient, "Kelowna Physio, Kelowna")
    whole = " ".join(" ".join(pages).split())
    charted = ada.charted
    assert f"Treatment session of {day:%-d %B %Y}" in whole
    assert charted.chart.complaint in whole
    assert charted.needle_site.lot_number in whole
    assert "Suspected pneumothorax (moderate)" in whole
    assert "Technique reviewed with the therapist." in whole  # the adverse event's review
    assert charted.addendum.text in whole
    signed_at = timezone.localtime(session.signed_at, world.kelowna.zone)
    name = world.therapist.get_full_name()
    assert f"Signed by {name} on {signed_at:%-d %B %Y, %H:%M}" in whole
    assert f"Printed by {name}" in whole
    # The download is a read of the chart, logged as opening its page is.
    assert RecordRead.objects.filter(
        reader=world.therapist,
        patient=ada.patient,
        part=RecordPart.CHART,
        via=ReadVia.PAGE,
        item_id=session.pk,
    ).exists()


def test_the_signed_sessions_page_offers_its_pdf_to_clinical_staff_only(world, client_of):
    session = world.kelowna_record().session
    page = reverse("sessions:detail", args=[session.pk])
    assert chart_pdf(session) in client_of(world.therapist).get(page).content.decode()
    assert chart_pdf(session) not in client_of(world.front_desk).get(page).content.decode()


def test_the_front_desk_and_other_organisations_get_no_chart(world, client_of):
    ada = world.kelowna_record()
    before = RecordRead.objects.filter(part=RecordPart.CHART).count()

    desk = client_of(world.front_desk).get(chart_pdf(ada.session))
    elsewhere = client_of(world.other_therapist).get(chart_pdf(ada.session))

    assert desk.status_code == 403
    assert "read by clinical staff only" in desk.content.decode()
    assert elsewhere.status_code == 404
    assert RecordRead.objects.filter(part=RecordPart.CHART).count() == before


def test_every_page_names_the_organisation_as_it_is_spelt(world, client_of, tmp_path):
    session = world.kelowna_record().session
    world.organization.name = "O'Hara & Lee Physio-Needling"
    world.organization.save(update_fields=["name"])

    pages = text_of(client_of(world.therapist).get(chart_pdf(session)).content, tmp_path)

    assert all("O'Hara & Lee Physio-Needling · signed chart of" in page for page in pages)


def test_a_draft_is_not_printed(world, client_of, patient):
    ready_to_needle(patient, by=world.therapist)
    session = started_session(patient=patient, therapist=world.therapist)
    client = client_of(world.therapist)

    response = client.get(chart_pdf(session), follow=True)

    assert response.redirect_chain == [(reverse("sessions:detail", args=[session.pk]), 302)]
    assert "Only a signed chart is made into a PDF; this session is in progress." in (
        response.content.decode()
    )
    assert chart_pdf(session) not in response.content.decode()


def test_a_head_request_makes_no_document_and_reads_nothing(world, client_of):
    session = world.kelowna_record().session
    before = RecordRead.objects.filter(part=RecordPart.CHART).count()
    response = client_of(world.therapist).head(chart_pdf(session))
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response.content == b""
    assert RecordRead.objects.filter(part=RecordPart.CHART).count() == before
