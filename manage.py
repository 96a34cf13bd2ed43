#!/usr/bin/env python
"""Fascia's command-line entry point."""

import os
import signal
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Stop on SIGTERM as on Ctrl-C, so the embedded database is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from django.core.management import execute_from_command_line

    from config.environment import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as error:
        sys.exit(f"fascia: {error}")


if __name__ == "__main__":
    main()
