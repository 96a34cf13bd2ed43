"""The confirmation asked before signing: what will be signed and locked, and what signing
issues to the patient, with one button that signs exactly the chart shown.

The chart's Sign button opens this page (a GET: nothing changes). Its "Sign and
lock" posts to the `sign` view with the version of the chart shown here, so a
chart changed by anyone in between is refused there, never signed unseen. A
count that signing would refuse is said first, and then the page offers only
the way back to the chart.
"""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render

from patients.models import ReadVia, RecordPart
from patients.services import record_read
from patients.views.scope import refuse
from sessions import selectors
from sessions.forms import SignForm
from sessions.models import Status
from sessions.sections import render_signing
from sessions.services.chart import count_refusal
from sessions.views.session import readable, session_page


@session_page
def sign_confirm(request, session):
    user = request.user
    view = selectors.chart_view(user, session)
    if view is None:  # before the method: the front desk is told the same whatever it sends
        return refuse(request, "The chart of a session is read and signed by clinical staff.")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not selectors.session_actions(user, session, view).sign:
        messages.error(
            request,
            "Signed already: the chart is locked; corrections are addenda."
            if session.status == Status.SIGNED
            else "Only the session's therapist signs it, while it is in progress.",
        )
        return redirect("sessions:detail", session_id=session.pk)
    chart = view.chart
    refusal = count_refusal(chart, needles_charted=view.needles_charted)
    opened_at = request.GET.get("sign-version", "")
    record_read(
        reader=user, patient=session.patient, part=RecordPart.CHART, via=ReadVia.PAGE, item=session
    )
    context = {
        "session": session,
        "view": view,
        "chart": chart,
        "zone": session.clinic.timezone,
        "refusal": readable(refusal) if refusal is not None else "",
        # The chart page that sent here was at another version: someone saved in between.
        "changed_since": opened_at.isdigit() and int(opened_at) != chart.version,
        "sign_form": SignForm(initial={"version": chart.version}, prefix="sign"),
        "summaries": render_signing(request, session),
    }
    return render(request, "sessions/sign_confirm.html", context)
