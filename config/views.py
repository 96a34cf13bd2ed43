import logging

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from clinics import access
from clinics.selectors import current_clinic
from patients.selectors import portal_records

logger = logging.getLogger(__name__)


@login_required
def home(request):
    """Send each person where they work, and a patient to their portal.

    It lives here, where the apps are wired together, because it knows them
    all: clinics may not import patients.
    """
    user = request.user
    if access.holds_role(user, access.MANAGERS):
        return redirect("clinics:list")
    clinic = current_clinic(request)
    if clinic is not None:
        return redirect("clinics:detail", clinic_id=clinic.pk)
    if portal_records(user).exists():
        return redirect("portal:home")
    if access.is_platform_operator(user) or user.is_staff:
        return redirect("admin:index")
    return render(request, "clinics/no_role.html", status=200)


@never_cache
@require_safe
def healthz(request):
    """200 when the database answers, 503 when it does not (for load balancers and monitors)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("health check: the database did not answer: %s", error)
        return JsonResponse({"status": "unavailable", "database": "not answering"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
