# The table of the shared cache (CACHES in config/settings.py: Django's database cache), as
# `manage.py createcachetable` makes it, so that every database Fascia migrates has it: the
# login limits, the used TOTP codes and the API's throttling live there.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_tokens_from_clear_tokens"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                """
                CREATE TABLE "fascia_cache" (
                    "cache_key" varchar(255) NOT NULL PRIMARY KEY,
                    "value" text NOT NULL,
                    "expires" timestamp with time zone NOT NULL
                )
                """,
                'CREATE INDEX "fascia_cache_expires" ON "fascia_cache" ("expires")',
            ],
            reverse_sql='DROP TABLE "fascia_cache"',
        ),
    ]
