import logging

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from clinics import access, worker
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
    """The service's health, for monitors and load balancers, as JSON.

    503 when the database does not answer, or when a background job has waited
    more than TASKS_OVERDUE_SECONDS past its time (no worker is taking them:
    check-ins and urgent-alert escalations have stopped). It reports the age
    of the oldest due job and the last worker heartbeat. `?scope=web` asks only
    whether this web server can serve (the database answers): for a load
    balancer, which should not drain every web server because the worker is down.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        if request.GET.get("scope") == "web":
            return JsonResponse({"status": "ok", "database": "ok"})
        jobs = worker.jobs_health()
    except DatabaseError as error:
        logger.warning("health check: the database did not answer: %s", error)
        return JsonResponse({"status": "unavailable", "database": "not answering"}, status=503)
    overdue = jobs["status"] == "overdue"
    if overdue:
        logger.warning(
            "health check: a job has waited %s s for a worker", jobs["oldest_due_waited_seconds"]
        )
    return JsonResponse(
        {"status": "unavailable" if overdue else "ok", "database": "ok", "jobs": jobs},
        status=503 if overdue else 200,
    )
