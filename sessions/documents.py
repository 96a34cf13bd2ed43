"""A signed chart as a PDF document, for the patient's paper file, a referral or a hospital.

patients/documents.py lays it out (WeasyPrint); this says whose chart may be printed and
logs the read, as opening the chart's page does.
"""

from django.utils import timezone

from clinics.exceptions import NotPermitted
from patients import documents
from patients.models import ReadVia, RecordPart
from patients.services import record_read
from sessions import selectors
from sessions.exceptions import SessionStateRefused
from sessions.models import TreatmentSession
from sessions.selectors import ChartView


def chart_to_print(user, session: TreatmentSession) -> ChartView:
    """The chart of `session` as `user` may read it, if it may be printed: once it is signed.

    A draft is not printed: a paper copy would outlive the changes made before signing.
    """
    view = selectors.chart_view(user, session)
    if view is None:
        raise NotPermitted("The chart of this session is read by clinical staff only.")
    if not session.is_signed:
        raise SessionStateRefused(
            f"Only a signed chart is made into a PDF; this session is "
            f"{session.get_status_display().lower()}."
        )
    return view


def signed_chart_pdf(user, view: ChartView) -> bytes:
    """The chart `chart_to_print` gave, as a PDF; its read is logged."""
    session = view.session
    document = documents.pdf(
        "sessions/documents/chart.html",
        {
            "session": session,
            "patient": session.patient,
            "clinic": session.clinic,
            "view": view,
            "printed_by": user,
            "printed_at": timezone.now(),
        },
    )
    record_read(
        reader=user, patient=session.patient, part=RecordPart.CHART, via=ReadVia.PAGE, item=session
    )
    return document
