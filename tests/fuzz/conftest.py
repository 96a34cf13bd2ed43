"""The API fuzz's world, made once per module in a transaction rolled back at its end: the
fuzz may change it freely and nothing leaks into other tests."""

import pytest
import time_machine
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction

from tests.fuzz.world import FUZZ_CLOCK, FuzzWorld, seed


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker) -> FuzzWorld:
    with (
        django_db_blocker.unblock(),
        time_machine.travel(FUZZ_CLOCK),
        transaction.atomic(),
    ):
        yield seed()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def requests_inside_the_test_transaction():
    """Django closes a connection that is in a transaction when a request starts or ends
    (its test client turns that off for its own requests): the fuzz's requests go to the
    WSGI handler and must keep the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
