"""How a page finds its patient: staff pages by id, among the patients clinics.access shows
them; portal pages by the login, through the same module's "own record" rule.

A page shared by both sides (intake, screening, consent) gets a `Place`: the
patient, and where its links and its "done" button lead on that side.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from clinics import access
from clinics.exceptions import FasciaError
from patients import selectors
from patients.models import Patient
from patients.selectors import portal_records

PORTAL_RECORD = "portal_patient"
"""Session key: which of a login's patient records the portal shows (one per organisation)."""

# The page names of the pages both sides have, on each side.
_STAFF_PAGES = {
    "intake": "patients:intake",
    "screening": "patients:screening_new",
    "screening_detail": "patients:screening_detail",
    "consent_sign": "patients:consent_sign",
    "consent_detail": "patients:consent_detail",
    "consent_withdraw": "patients:consent_withdraw",
    "done": "patients:detail",
}
_PORTAL_PAGES = {
    "intake": "portal:intake",
    "screening": "portal:screening",
    "screening_detail": "portal:screening_detail",
    "consent_sign": "portal:consent_sign",
    "consent_detail": "portal:consent_detail",
    "consent_withdraw": "portal:consent_withdraw",
    "done": "portal:home",
}


@dataclass(frozen=True)
class Place:
    """A patient, and whether the page is used at the clinic or in the patient's portal."""

    patient: Patient
    portal: bool

    def url(self, page: str, **kwargs) -> str:
        if self.portal:
            return reverse(_PORTAL_PAGES[page], kwargs=kwargs)
        return reverse(_STAFF_PAGES[page], kwargs={"patient_id": self.patient.pk, **kwargs})

    @property
    def done_url(self) -> str:
        return self.url("done")

    def may(self, user, action: access.Action, model) -> bool:
        """May `user` `action` `model` rows of this patient (their own, in the portal)?"""
        return selectors.may(user, action, model, self.patient)


def works_at_a_clinic(user) -> bool:
    return access.holds_staff_role(user) or access.is_platform_operator(user)


def staff_page(view):
    """A page for clinic staff. Anyone else (a patient's login) finds nothing here.

    A `patient_id` in the URL becomes `patient`, among the patients the user
    may see: a patient elsewhere answers 404, before anything else is read.
    """

    @login_required
    @wraps(view)
    def page(request, *args, patient_id=None, **kwargs):
        if not works_at_a_clinic(request.user):
            raise Http404("No such page.")
        if patient_id is not None:
            patients = Patient.objects.select_related("home_clinic", "organization", "user")
            found = access.visible_to(request.user, patients).filter(pk=patient_id).first()
            if found is None:
                return _merged_or_404(request, patient_id)
            kwargs["patient"] = found
        return view(request, *args, **kwargs)

    return page


def _merged_or_404(request, patient_id):
    """A merged record's pages lead to the record it went into (for those who may see it)."""
    kept = selectors.moved_to(request.user, patient_id)
    if kept is None:
        raise Http404("No such patient.")
    messages.info(
        request, f"That record was merged into {kept.full_name}'s: this is the record now."
    )
    return redirect(request.get_full_path().replace(str(patient_id), str(kept.pk), 1))


def portal_page(view):
    """A page of the patient portal: `patient` is the login's own record."""

    @login_required
    @wraps(view)
    def page(request, *args, **kwargs):
        records = list(portal_records(request.user))
        if not records:
            raise Http404("This login is not connected to a patient record.")
        chosen = request.session.get(PORTAL_RECORD)
        kwargs["patient"] = next((r for r in records if str(r.pk) == chosen), records[0])
        return view(request, *args, **kwargs)

    return page


def refuse(request, message: str, *, place: Place | None = None):
    """A 403 page that says what the role does not allow, with a way back."""
    back = place.done_url if place is not None else reverse("home")
    return render(
        request, "patients/not_allowed.html", {"message": message, "back_url": back}, status=403
    )


def message_of(error: FasciaError | ValidationError) -> str:
    if isinstance(error, FasciaError):
        return error.message
    return " ".join(error.messages)
