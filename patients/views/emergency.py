"""Break-glass pages: find a patient of another site, open their record in an emergency, and
the organisation admins' list of every such access."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from clinics import access
from clinics.exceptions import FasciaError
from clinics.models import Organization
from patients import selectors, services
from patients.forms import show_error
from patients.models import EmergencyAccess, ReadVia, RecordPart
from patients.models.emergency import REASON_MIN_LENGTH
from patients.views.scope import staff_page

PAGE_SIZE = 50


class EmergencyAccessForm(forms.Form):
    reason = forms.CharField(
        label="Why must you see this record?",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"At least {REASON_MIN_LENGTH} characters. The organisation's admins read it.",
    )


def _clinical_staff_only(user) -> set:
    """The organisations where `user` may break the glass; anyone else finds no such page."""
    organizations = access.emergency_organizations(user)
    if not organizations:
        raise Http404("No such page.")
    return organizations


@staff_page
def other_sites(request):
    """Patients of the organisation's other sites matching the search: name, date of birth and
    home clinic only, each with a way to open the record in an emergency."""
    organizations = _clinical_staff_only(request.user)
    query = " ".join(request.GET.get("q", "").split())
    patients = selectors.search_other_sites(request.user, query) if query else []
    # Names and dates of birth are part of a record: the list is a read of each.
    services.record_reads(
        reader=request.user, patients=patients, part=RecordPart.LIST, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/emergency/other_sites.html",
        {
            "query": query,
            "patients": patients,
            "organizations": Organization.objects.filter(pk__in=organizations).order_by("name"),
        },
    )


@login_required
def open_in_emergency(request, patient_id):
    """Ask the reason, grant the access, show the patient's page.

    Not a `staff_page`: that finds only the patients the user sees, and this
    patient is one they do not (yet). Any patient of the organisations where the
    user may break the glass is found; any other answers 404.
    """
    _clinical_staff_only(request.user)
    patient = selectors.patient_of_another_site(request.user, patient_id)
    if patient is None:
        raise Http404("No such patient.")
    if access.can(request.user, "view", patient):
        # Seen already (their own site, or an access that still holds): nothing to break.
        return redirect("patients:detail", patient_id=patient.pk)
    form = EmergencyAccessForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            granted = services.grant_emergency_access(
                patient=patient, by=request.user, reason=form.cleaned_data["reason"]
            )
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            messages.warning(
                request,
                f"Emergency access to {patient.full_name}'s record is granted. It is logged and "
                "shown to the organisation's admins.",
            )
            return redirect("patients:detail", patient_id=granted.patient_id)
    services.record_read(
        reader=request.user, patient=patient, part=RecordPart.LIST, via=ReadVia.PAGE
    )
    status = 400 if form.errors else 200
    return render(
        request,
        "patients/emergency/open.html",
        {"patient": patient, "form": form, "hours": settings.FASCIA_BREAK_GLASS_HOURS},
        status=status,
    )


@staff_page
def emergency_access_list(request):
    """Every emergency access of the organisation (its admins), or one's own (a clinician)."""
    if not (
        access.may_review_emergency_access(request.user)
        or access.emergency_organizations(request.user)
    ):
        raise Http404("No such page.")
    accesses = access.visible_to(
        request.user,
        EmergencyAccess.objects.select_related("user", "patient__home_clinic", "organization"),
    ).order_by("-granted_at", "-pk")
    page = Paginator(accesses, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page)
    services.record_reads(
        reader=request.user,
        patients=[row.patient for row in rows],
        part=RecordPart.LIST,
        via=ReadVia.PAGE,
    )
    return render(
        request,
        "patients/emergency/list.html",
        {
            "page": page,
            "rows": rows,
            "reviews_all": access.may_review_emergency_access(request.user),
            "now": timezone.now(),
        },
    )
