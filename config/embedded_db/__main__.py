"""`python -m config.embedded_db`: start the embedded server and hold it open until stopped.

For what must not start the server itself: a test run under faketime (the
start waits in time.sleep, which fails there; see docs/testing.md), or psql.
Prints the DATABASE_URL that reaches the server as the role Fascia runs as, then,
on a second line, the DATABASE_OWNER_URL that migrations and test databases use.
Ctrl-C or SIGTERM stops the server, unless another process of the checkout still uses it.
"""

import signal
import sys

from config.embedded_db import server
from config.environment import ConfigurationError


def _stop(signum, frame):
    raise SystemExit(0)


def main() -> int:
    try:
        running = server.ensure_running()
    except ConfigurationError as error:
        print(f"fascia: {error}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    print(running.app_uri(), running.uri(), sep="\n", flush=True)
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
