from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction

from accounts import services
from accounts.models import ApiToken, User
from accounts.signals import password_set_by_operator


class PasswordChangeEndsTokens(AdminPasswordChangeForm):
    """The operator's "Change password" on a user revokes their API tokens, like allauth's."""

    def save(self, commit=True):
        with transaction.atomic():
            user = super().save(commit)
            if commit:
                services.revoke_tokens(user=user, by=None, reason=services.CREDENTIALS_CHANGED)
                transaction.on_commit(
                    lambda: password_set_by_operator.send(sender=type(user), user=user)
                )
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Accounts for the platform operator. Clinic staff are managed through staff roles."""

    change_password_form = PasswordChangeEndsTokens
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "is_superuser", "last_login"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal info", {"fields": ["full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]}),
    ]
    readonly_fields = ["last_login", "date_joined"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Every API token, for the platform operator: read only; revoking goes through the service.

    Tokens are made by their owners only (the secret is shown to them once).
    """

    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "status"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__email", "user__full_name"]
    fields = [
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a revoked token stays, with who revoked it and why

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        return token.status.label

    @admin.action(description="Revoke the selected API tokens", permissions=["view"])
    def revoke(self, request, queryset):
        revoked = sum(
            services.revoke_api_token(
                token=token,
                by=request.user,
                reason="revoked by the platform operator",
                request=request,
            )
            for token in queryset
        )
        messages.success(request, f"{revoked} API token(s) revoked.")
