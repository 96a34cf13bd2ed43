"""Records as PDF documents: an HTML page of Fascia's laid out for paper by WeasyPrint.

WeasyPrint draws text with Pango (Debian's libpango-1.0-0 and libpangoft2-1.0-0, which
`.ci/run` installs and docs/operations.md lists). It is imported when a document is made,
so a server without Pango runs everything else and answers a PDF with DocumentsUnavailable.
Every page carries the clinic's name and the patient's name, date of birth and record id in
its running header, and "page N of M" in its footer (CSS paged media, in the template).
"""

from django.template.loader import render_to_string

from clinics.exceptions import FasciaError


class DocumentsUnavailable(FasciaError):
    status = 503
    code = "documents_unavailable"


def pdf(template: str, context: dict) -> bytes:
    """The PDF of `template` rendered with `context` (its styles are in the template)."""
    try:
        from weasyprint import HTML
    except OSError:  # Pango missing: WeasyPrint loads it as it is imported
        raise DocumentsUnavailable(
            "PDF documents cannot be made on this server (Pango is missing): download the "
            "record as a file or print the page instead."
        ) from None
    return HTML(string=render_to_string(template, context)).write_pdf()
