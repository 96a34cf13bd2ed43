"""gunicorn's settings for Fascia: `gunicorn -c config/gunicorn.py` (what `make serve` runs).

Each setting can be changed from the environment, as gunicorn itself allows
(GUNICORN_CMD_ARGS, WEB_CONCURRENCY) or with the variables read below; see
docs/operations.md, "Running in production".
"""

import gc
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("FASCIA_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# One process per core: a request is Python work between short database reads, so more
# processes than cores only take turns (docs/operations.md measures it).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# A request that takes longer is stuck: its worker is killed and replaced.
timeout = 30
graceful_timeout = 10
# Behind the proxy that terminates HTTPS (docs/operations.md, step 5): it buffers slow
# clients, so a sync worker never waits on one. Its address is trusted for the
# X-Forwarded-* headers gunicorn itself reads; Fascia reads X-Forwarded-For only as
# FASCIA_TRUSTED_PROXIES says.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The application is loaded once, before the workers are forked: they share its memory
# (copy on write), and an error in the settings stops the server at once with its line.
preload_app = True
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"


def pre_fork(server, worker):
    # What was loaded before the fork stays: the collector never walks it again, nor
    # writes to its pages (which would copy them into each worker).
    gc.freeze()


def post_fork(server, worker):
    # A page such as the week's calendar makes a few hundred thousand short-lived objects;
    # collecting the youngest every 700 allocations (Python's default) cost it 8-10 ms.
    gc.set_threshold(50_000, 20, 20)
