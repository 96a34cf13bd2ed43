"""Production's settings for a real server a test starts with DEBUG off, except that static
files are named as in development: pages then render without `collectstatic`, which would
write to the checkout's var/static, shared by every run. Nothing else differs."""

from config.settings import *  # noqa: F403
from config.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
