"""Django REST framework's tokens, kept in clear in `authtoken_token`, become ApiTokens.

Each keeps working (its key is the secret: only its SHA-256 is stored now), is named
"Token made before names" and expires 90 days from this migration. Then the clear
table goes. A database made after `rest_framework.authtoken` left INSTALLED_APPS never
had the table: nothing to do.
"""

import datetime
import hashlib

from django.db import migrations
from django.utils import timezone

NAME_GIVEN = "Token made before names"
DAYS_LEFT = 90


def hash_clear_tokens(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('authtoken_token') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
        ApiToken = apps.get_model("accounts", "ApiToken")
        expires_at = timezone.now() + datetime.timedelta(days=DAYS_LEFT)
        ApiToken.objects.bulk_create(
            ApiToken(
                user_id=user_id,
                name=NAME_GIVEN,
                secret_hash=hashlib.sha256(key.encode()).hexdigest(),
                prefix=key[:6],
                created_at=created,
                expires_at=expires_at,
            )
            for key, user_id, created in rows
        )
        cursor.execute("DROP TABLE authtoken_token")
        # The app is gone: forget its migrations, content type and permissions too.
        cursor.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")
    apps.get_model("contenttypes", "ContentType").objects.filter(app_label="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_tokens_stored_as_hash"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        # The clear keys cannot come back: going back leaves the hashed tokens as they are.
        migrations.RunPython(hash_clear_tokens, migrations.RunPython.noop),
    ]
