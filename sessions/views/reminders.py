"""The confirm and cancel links of a reminder e-mail: no login, a button press to act.

Opening a link changes nothing (a mail scanner opens links too): the page
shows the session's date, time, clinic and therapist, and a button. The press
is a POST with its CSRF token, answered by a redirect to the same link, so a
second press, a reload or another tab shows what the first press did.
"""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clinics.exceptions import FasciaError
from sessions.exceptions import ReminderLinkInvalid
from sessions.services import reminder_links


@require_http_methods(["GET", "HEAD", "POST"])
def reminder_link(request, token: str):
    try:
        reminder, action = reminder_links.reminder_from_link(token)
    except ReminderLinkInvalid as error:
        return render(
            request, "sessions/reminder_invalid.html", {"message": error.message}, status=404
        )
    error = ""
    if request.method == "POST":
        try:
            reminder_links.answer_reminder(
                reminder=reminder, action=action, reason=request.POST.get("reason", "")
            )
        except FasciaError as refusal:
            error = refusal.message
        else:
            return redirect(request.path)
    page = reminder_links.page_of(reminder, action)
    return render(
        request,
        "sessions/reminder_link.html",
        {
            "page": page,
            "clinic": reminder.clinic,
            "therapist": reminder.session.therapist,
            "error": error,
            "reason": request.POST.get("reason", "") if error else "",
            "reason_limit": reminder_links.REASON_LIMIT,
            "notice_hours": reminder_links.notice_hours_of(reminder),
        },
        status=400 if error else 200,
    )
