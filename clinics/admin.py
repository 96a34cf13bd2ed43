from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.shortcuts import redirect

from clinics import access, services
from clinics.admin_history import EventHistoryMixin
from clinics.admin_services import SavedByServiceForm, adopt
from clinics.exceptions import FasciaError
from clinics.models import Clinic, Membership, Organization, Role


@admin.register(Organization)
class OrganizationAdmin(EventHistoryMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "idle_minutes", "created_at"]
    fields = ["name", "idle_minutes"]
    search_fields = ["name"]

    def has_add_permission(self, request, *args) -> bool:
        return access.is_platform_operator(request.user)


class ClinicForm(forms.ModelForm):
    class Meta:
        model = Clinic
        fields = [
            "organization",
            "name",
            "address",
            "phone",
            "emergency_number",
            "timezone",
            "is_active",
        ]


@admin.register(Clinic)
class ClinicAdmin(EventHistoryMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    form = ClinicForm
    list_display = ["name", "organization", "phone", "timezone", "is_active"]
    list_filter = ["is_active"]
    list_select_related = ["organization"]
    search_fields = ["name", "address", "phone"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.CLINIC_FIELDS}
        if change:
            saved = services.update_clinic(clinic=obj, by=request.user, **fields)
        else:
            saved = services.create_clinic(
                organization=form.cleaned_data["organization"], by=request.user, **fields
            )
        adopt(obj, saved)


class GrantRoleForm(forms.ModelForm):
    """Adding a staff role names the person by e-mail; someone new gets an invitation."""

    email = forms.EmailField(label="E-mail", help_text="The person's login.")
    full_name = forms.CharField(
        label="Full name", required=False, help_text="Used when this person is new to Fascia."
    )

    class Meta:
        model = Membership
        fields = ["organization", "clinic", "role"]

    def clean(self):
        cleaned = super().clean()
        organization, clinic = cleaned.get("organization"), cleaned.get("clinic")
        if organization and clinic and clinic.organization_id != organization.pk:
            self.add_error("clinic", "This clinic belongs to another organisation.")
        role = cleaned.get("role")
        if role == Role.ORG_ADMIN and clinic is not None:
            self.add_error("clinic", "An organisation admin works at every clinic: leave it empty.")
        if role and role != Role.ORG_ADMIN and clinic is None:
            self.add_error("clinic", "This role is held at one clinic: choose it.")
        return cleaned

    by = None  # the acting user, set by MembershipAdmin.get_form

    def validate_constraints(self):
        pass  # check_grant below says "already holds this role" in plain words

    def _post_clean(self):
        super()._post_clean()
        data = self.cleaned_data
        if self.errors or not all(data.get(name) for name in ("organization", "email", "role")):
            return
        try:
            services.check_grant(
                organization=data["organization"],
                clinic=data.get("clinic"),
                role=data["role"],
                email=data["email"],
                by=self.by,
            )
        except FasciaError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)


class CredentialForm(SavedByServiceForm):
    """A role is never edited, except a therapist's dry-needling credential."""

    class Meta:
        model = Membership
        fields = ["credential", "credential_expires_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = True

    def call_service(self) -> Membership:
        return services.record_credential(
            membership=self.instance,
            by=self.by,
            credential=self.cleaned_data["credential"],
            expires_on=self.cleaned_data["credential_expires_on"],
        )


@admin.register(Membership)
class MembershipAdmin(EventHistoryMixin, access.ScopedAdminMixin, admin.ModelAdmin):
    form = GrantRoleForm
    list_display = ["user", "role", "clinic", "organization", "credential_expires_on"]
    # RelatedOnly: offer only clinics among the visible rows, never every clinic.
    list_filter = ["role", ("clinic", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "clinic", "organization"]
    search_fields = ["user__email", "user__full_name"]
    fields = ["organization", "clinic", "role", "email", "full_name"]
    role_fields = ["user", "organization", "clinic", "role", "created_at"]
    credential_fields = ["credential", "credential_expires_on"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = CredentialForm
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"by": request.user})

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.fields
        if obj.role == Role.THERAPIST:
            return [*self.role_fields, *self.credential_fields]
        return self.role_fields

    def has_change_permission(self, request, obj=None) -> bool:
        # Only a therapist's credential is ever changed on a role.
        if obj is not None and obj.role != Role.THERAPIST:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if self.has_change_permission(request, obj):
            return self.role_fields
        return self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = form.saved  # recorded by CredentialForm through the service
        else:
            saved = services.grant_role(
                organization=data["organization"],
                clinic=data.get("clinic"),
                role=data["role"],
                email=data["email"],
                full_name=data.get("full_name", ""),
                by=request.user,
            )
        adopt(obj, saved)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)  # roles are removed one by one, each checked
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except FasciaError as refusal:
            self.message_user(request, refusal.message, messages.ERROR)
            return redirect("admin:clinics_membership_change", object_id)

    def delete_model(self, request, obj):
        services.revoke_role(membership=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            services.revoke_role(membership=membership, by=request.user)
