"""What the tests that run Fascia's processes share: the task worker's command line, and
waiting for something another process does (never `time.sleep`: docs/testing.md)."""

import sys
import threading
import time

WORKER = [sys.executable, "manage.py", "worker", "--no-reload", "--skip-checks"]


def wait_for(condition, *, seconds: float, what: str, every: float = 0.1) -> None:
    """Ask `condition` until it is true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        threading.Event().wait(every)


def wait_until_a_session_waits_on_a_lock(*, seconds: float = 5) -> None:
    """Until another connection to this test's database waits on a lock: the second of two
    racing requests has reached the row the first holds. Fails if it never does, so a race
    test cannot pass without the race."""
    from django.db import connection  # the tests of real processes need no Django here

    def waiting() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0] > 0

    wait_for(waiting, seconds=seconds, what="the second request to wait on the first's lock")


def race(first, second, *, holding: threading.Event, release: threading.Event) -> None:
    """Two requests at once, each in a thread of its own: `first` takes its lock and sets
    `holding`, then waits for `release`; `second` starts and must come to wait on that lock;
    then `first` goes on and both end. (Each closes its own connection.)"""
    one, two = threading.Thread(target=first), threading.Thread(target=second)
    one.start()
    try:
        assert holding.wait(10), "the first request never took its lock"
        two.start()
        wait_until_a_session_waits_on_a_lock()
    finally:
        release.set()
        one.join()
        if two.ident is not None:  # started
            two.join()
