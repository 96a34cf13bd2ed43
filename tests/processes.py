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
