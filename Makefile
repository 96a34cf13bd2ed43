# Fascia: `make run` serves the demo, `make test` runs every check.
# Both build .venv from requirements.txt first, with a Python 3.12 or newer.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test clean

$(STAMP): requirements.txt
	@python=$$(for candidate in "$$(pyenv which python 2>/dev/null)" python3.13 python3.12 python3; do \
		[ -n "$$candidate" ] || continue; \
		command -v "$$candidate" >/dev/null 2>&1 || continue; \
		"$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$candidate"; break; }; \
	done); \
	if [ -z "$$python" ]; then echo "fascia: needs Python 3.12 or newer (python3.13, python3.12 or python3 on PATH, or pyenv with .python-version)" >&2; exit 1; fi; \
	[ -x $(PY) ] || "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The local demo runs in development mode unless told otherwise.
run test: export DEBUG ?= true

# The task worker (check-in e-mails, escalations) runs beside the web server and
# stops with it.
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data
	$(PY) manage.py db_worker --interval 5 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# The suite runs in one process per core (pytest-xdist), each with its own database.
test: $(STAMP)
	$(PY) -m pytest -n auto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
		ALLOWED_HOSTS=fascia.example.org $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
