"""A second connection to the database, beside the transaction under way.

A long all-or-nothing transaction (an import of thousands of patients) cannot tell a page
how far it is: nothing it writes is seen before it commits. Its progress is written on a
connection of its own instead, committed at once, and kept if the work rolls back. The
connection is opened for the block and closed after it, without the pool (a worker's pool
is sized for its own threads).
"""

import contextlib
import copy
import uuid
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend


@contextlib.contextmanager
def side_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[str]:
    """The alias of a new connection to `using`'s database, for the block."""
    settings = copy.deepcopy(connections[using].settings_dict)
    settings["OPTIONS"].pop("pool", None)
    alias = f"{using}-side-{uuid.uuid4().hex[:8]}"
    connections[alias] = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
