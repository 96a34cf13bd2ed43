"""The signed chart as a PDF document (sessions/documents.py), from the session's page."""

from django.contrib import messages
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.text import slugify

from clinics.exceptions import NotPermitted
from patients.documents import DocumentsUnavailable
from patients.views.scope import refuse
from sessions import documents
from sessions.exceptions import SessionStateRefused
from sessions.views.session import session_page


@session_page
def chart_pdf(request, session):
    # Who may not read the chart is told so whatever the method, as on the session's pages.
    try:
        view = documents.chart_to_print(request.user, session)
    except NotPermitted as error:
        return refuse(request, error.message)
    except SessionStateRefused as error:
        messages.error(request, error.message)
        return redirect("sessions:detail", session.pk)
    if request.method == "HEAD":  # what a GET would answer, without making or logging it
        return HttpResponse(content_type="application/pdf")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        document = documents.signed_chart_pdf(request.user, view)
    except DocumentsUnavailable as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    day = timezone.localtime(session.starts_at, session.clinic.zone).date()
    response = HttpResponse(document, content_type="application/pdf")
    filename = f"chart-{slugify(session.patient.full_name)}-{day:%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
