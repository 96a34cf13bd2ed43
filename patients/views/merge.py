"""Merging two records of one person: choose the other record, compare side by side, confirm.

For organisation admins (the only ones who may merge); everyone else is told
who may. The merge itself is patients.services.merge.merge_patients.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from clinics import access
from clinics.exceptions import FasciaError
from patients import selectors, services
from patients.forms import PlainLabels, show_error
from patients.models import Patient, ReadVia, RecordPart
from patients.services.merge import merge_patients
from patients.views.scope import Place, refuse, staff_page

ONLY_ADMINS = "Only an organisation admin may merge patient records: ask one to merge them."


class MergeForm(PlainLabels, forms.Form):
    reason = forms.CharField(
        label="Why are these the same person?",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the merge, for anyone who later wonders (e.g. same phone and "
        "date of birth, name misspelt at registration; confirmed with the patient).",
    )


@staff_page
def choose(request, patient: Patient):
    """The records that may be this patient too, and a search, to pick the one to merge."""
    user = request.user
    if not selectors.may_merge(user, patient):
        return refuse(request, ONLY_ADMINS, place=Place(patient=patient, portal=False))
    query = " ".join(request.GET.get("q", "").split())
    found = selectors.search_patients(user, query) if query else selectors.duplicates_of(patient)
    visible = set(
        access.visible_to(
            user, Patient.objects.filter(pk__in=[other.pk for other in found])
        ).values_list("pk", flat=True)
    )
    others = [
        other
        for other in found
        if other.pk in visible
        and other.pk != patient.pk
        and other.organization_id == patient.organization_id
    ]
    services.record_reads(
        reader=user, patients=[patient, *others], part=RecordPart.LIST, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/merge_choose.html",
        {"patient": patient, "others": others, "query": query},
    )


@staff_page
def compare(request, patient: Patient, other_id):
    """`other_id`'s record beside `patient`'s, what would move, and the confirmation."""
    user = request.user
    keep = patient
    if not selectors.may_merge(user, keep):
        return refuse(request, ONLY_ADMINS, place=Place(patient=keep, portal=False))
    away = get_object_or_404(
        access.visible_to(
            user,
            Patient.objects.select_related("home_clinic", "organization", "user").filter(
                organization=keep.organization
            ),
        ),
        pk=other_id,
    )
    form = MergeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            merge = merge_patients(
                keep=keep, merge_away=away, by=user, reason=form.cleaned_data["reason"]
            )
        except (FasciaError, ValidationError) as error:
            show_error(form, error)
        else:
            moved = sum(merge.moved.values())
            messages.success(
                request,
                f"{away.full_name}'s record is merged into this one: {moved} "
                f"row{'s' if moved != 1 else ''} moved, nothing changed in what was signed.",
            )
            return redirect("patients:detail", patient_id=keep.pk)
    # Both records' details are on the page: a read of each, in the access log.
    services.record_reads(
        reader=user, patients=[away, keep], part=RecordPart.DETAILS, via=ReadVia.PAGE
    )
    return render(
        request,
        "patients/merge_compare.html",
        {
            "keep": keep,
            "away": away,
            "preview": selectors.merge_preview(keep=keep, merge_away=away),
            "form": form,
        },
    )
