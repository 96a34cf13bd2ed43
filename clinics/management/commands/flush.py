"""`manage.py flush`, as the owner of the tables: the role Fascia runs as may not TRUNCATE.

The tests' transactional cases end with a flush (clinics/database_roles.py).
"""

from django.core.management.commands import flush

from clinics import database_roles


class Command(flush.Command):
    def handle(self, **options):
        with database_roles.as_owner(options["database"]):
            super().handle(**options)
