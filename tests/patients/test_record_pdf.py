"""The patient's own record as a PDF (WeasyPrint), read back with poppler's pdftotext."""

import shutil
import subprocess

from django.urls import reverse

from patients.models import RecordRead
from tests.patients.test_own_record import staff_only

PDFTOTEXT = shutil.which("pdftotext")


def text_of(document: bytes, tmp_path) -> list[str]:
    """The text of each page (poppler-utils, installed by .ci/run)."""
    assert PDFTOTEXT, "pdftotext is missing: apt-get install poppler-utils (.ci/run does)"
    path = tmp_path / "record.pdf"
    path.write_bytes(document)
    done = subprocess.run(
        [PDFTOTEXT, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return [page for page in done.stdout.split("\f") if page.strip()]


def assert_every_page_names(pages: list[str], patient, clinic: str) -> None:
    """Each page's header names the clinic, the patient (born, record id), and its footer
    says page N of M."""
    born = f"born {patient.date_of_birth:%-d %B %Y}"
    for number, page in enumerate(pages, start=1):
        assert clinic in page
        assert patient.full_name in page and born in page
        assert str(patient.pk) in " ".join(page.split())
        assert f"Page {number} of {len(pages)}" in page


def test_the_record_as_a_pdf_names_the_clinic_and_the_patient_on_every_page(
    world, client_of, tmp_path
):
    ada = world.kelowna_record()
    before = RecordRead.objects.count()
    response = client_of(ada.patient.user).get(reverse("portal:record_pdf"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="fascia-record-')
    assert response.content.startswith(b"%PDF-")
    pages = text_of(response.content, tmp_path)
    assert len(pages) >= 2
    assert_every_page_names(pages, ada.patient, "Kelowna Physio, Kelowna")
    whole = " ".join(" ".join(pages).split())
    assert "Record of Ada Quinn" in whole
    assert "Appendectomy" in whole
    assert " ".join(ada.consent.text.split()[:8]) in whole
    assert "Made by Fascia for Ada Quinn" in whole
    assert [note for note in staff_only(ada) if " ".join(note.split()) in whole] == []
    assert RecordRead.objects.count() > before  # the download is a read of the record


def test_the_printable_page_offers_the_pdf(world, client_of):
    ada = world.kelowna_record()
    page = client_of(ada.patient.user).get(reverse("portal:record")).content.decode()
    assert reverse("portal:record_pdf") in page
    assert "Download as a document (PDF)" in page
