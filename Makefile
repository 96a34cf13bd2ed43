# Fascia: `make run` serves the demo, `make test` runs every check.
# Both build .venv from requirements.txt first, with a Python 3.12 or newer.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run serve test query-budgets docs-screenshots seed-bench bench clean

$(STAMP): requirements.txt
	@python=$$(for candidate in "$$(pyenv which python 2>/dev/null)" python3.13 python3.12 python3; do \
		[ -n "$$candidate" ] || continue; \
		command -v "$$candidate" >/dev/null 2>&1 || continue; \
		"$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$candidate"; break; }; \
	done); \
	if [ -z "$$python" ]; then echo "fascia: needs Python 3.12 or newer (python3.13, python3.12 or python3 on PATH, or pyenv with .python-version)" >&2; exit 1; fi; \
	echo "fascia: installing the packages in requirements.txt into $(VENV) (the first time takes a few minutes)"; \
	[ -x $(PY) ] || "$$python" -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The local demo runs in development mode unless told otherwise.
run test: export DEBUG ?= true
# Python keeps compiled modules (and pytest its rewritten tests) in __pycache__, even
# where the environment says not to: each test process and each server or worker the
# tests start would otherwise compile every module again (about a tenth of the suite).
run test: export PYTHONDONTWRITEBYTECODE =

# One process (config/run.py) starts the database, migrates, loads the demo,
# runs the web server and the task worker, and on Ctrl-C or SIGTERM stops them
# all. The line has no shell metacharacters, so make runs it without a shell
# and passes SIGTERM straight to it. SERVE_ONLY=yes skips migrating and the demo.
run: $(STAMP)
	$(PY) -m config.run --port $(PORT) $(if $(filter yes,$(SERVE_ONLY)),--serve-only)

# As in production (docs/operations.md): gunicorn (config/gunicorn.py) with DEBUG off and
# the task worker beside it, after the migrations and collectstatic; no demo data. Without
# SECRET_KEY one is kept in var/secret_key; ALLOWED_HOSTS defaults to this machine.
serve: export DEBUG = false
serve: export PYTHONDONTWRITEBYTECODE =
serve: $(STAMP)
	$(PY) -m config.run --production --port $(PORT) $(if $(filter yes,$(SERVE_ONLY)),--serve-only)

# make bench's data (docs/performance.md): a clinic network of 2,000,000 sessions, in a
# database of its own on the embedded server (BENCH_DATABASE), beside the demo's. About
# 13 minutes; SCALE=0.1 for a tenth. It refuses a database that already has data.
BENCH_DATABASE ?= fascia_bench
SCALE ?= 1
seed-bench bench: export FASCIA_DATABASE_NAME = $(BENCH_DATABASE)
seed-bench bench: export PYTHONDONTWRITEBYTECODE =
# manage.py's settings, as for any command run by hand (make bench sets its own).
seed-bench: export DEBUG = true
seed-bench: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_bench --scale $(SCALE)

# Fascia under gunicorn beside the floor, on seed-bench's data: writes the report into
# benchmarks/results/ (benchmarks/serving). BENCH_ARGS="--requests 30" for a quick one.
bench: $(STAMP)
	$(PY) -m benchmarks.serving $(BENCH_ARGS)

# The suite runs in one process per core (pytest-xdist), each with its own database.
test: $(STAMP)
	$(PY) -m pytest -n auto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
		ALLOWED_HOSTS=fascia.example.org $(PY) manage.py check --deploy --fail-level WARNING

# After a change that adds or removes queries on purpose: measure every URL again and
# write tests/config/query_budgets.json (one process, so that one file is written).
query-budgets: $(STAMP)
	$(PY) -m pytest -p no:xdist -q tests/config/test_query_budgets.py --write-query-budgets

# After a change to a screen the user guides show: take their pictures again in Chromium,
# from the demo, and write them into docs/guide/screenshots/ (tests/docs/test_screenshots.py).
docs-screenshots: $(STAMP)
	$(PY) -m pytest -p no:xdist -q tests/docs/test_screenshots.py --write-screenshots

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
