from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.account.signals import password_changed, password_reset, password_set

        from accounts import receivers

        for signal in (password_changed, password_reset, password_set):
            signal.connect(receivers.revoke_tokens_on_new_password)
