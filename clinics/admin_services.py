"""Admin pages whose writes go through services, and admin pages of records never changed.

The service call is the last step of the form's validation, so whatever it
refuses is shown on the form and nothing is saved; `save_model` then adopts
the row the service saved.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from clinics import access
from clinics.admin_history import EventHistoryMixin
from clinics.exceptions import FasciaError


def adopt(obj, saved) -> None:
    """Make the admin's form instance the row the service saved (the admin logs and links it)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


def show_refusal(form, refusal: FasciaError | ValidationError) -> None:
    """Put a service's refusal on the form: on the field it names, else above the form."""
    if isinstance(refusal, FasciaError):
        form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
    elif hasattr(refusal, "error_dict"):
        for name, errors in refusal.error_dict.items():
            shown = name if name in form.fields and name != NON_FIELD_ERRORS else None
            form.add_error(shown, errors)
    else:
        form.add_error(None, refusal)


class SavedByServiceForm(forms.ModelForm):
    """A form whose validation ends by calling a service; `saved` is the row it saved."""

    by = None  # the acting user, set by ServiceAdmin.get_form
    saved = None

    def call_service(self):
        raise NotImplementedError

    @property
    def adding(self) -> bool:
        return self.instance._state.adding

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            self.saved = self.call_service()
        except (FasciaError, ValidationError) as refusal:
            show_refusal(self, refusal)


class ServiceAdmin(EventHistoryMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    """A scoped admin whose forms save through a service (see SavedByServiceForm)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"by": request.user})

    def save_model(self, request, obj, form, change):
        adopt(obj, form.saved)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyMixin:
    """Records that are evidence: shown to the roles that may read them, never changed here.

    The database refuses changes to signed records anyway; the admin does not
    offer them, not even to the platform operator.
    """

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
