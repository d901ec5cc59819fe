# One entry for everything a newcomer or CI runs. The virtual environment is created and
# filled from the lock file on first use, and again whenever the lock file changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo import test test-unit lint typecheck bench schema lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

## every tier: unit, functional, and integration on the Firestore and Pub/Sub emulators
test: $(VENV)/.installed
	$(PY) -m pytest

## the fast tiers only (no emulators)
test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/functional

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) bench/cold_start.py
	$(PY) bench/replay_throughput.py
	$(PY) bench/pipeline_latency.py

## regenerate docs/book.schema.json from the models
schema: $(VENV)/.installed
	$(VENV)/bin/taops schema --write

## re-resolve requirements.lock from pyproject.toml (runtime + dev extra)
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[dev]'
	.lock-venv/bin/pip freeze --exclude taops > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .taops

## the main job: a bundled TA-team scenario replayed end to end, with what happened and why
demo: $(VENV)/.installed
	$(VENV)/bin/taops demo

## validate the policy and import a book of business into the store
BOOK ?= examples/book.json
import: $(VENV)/.installed
	$(VENV)/bin/taops policy check
	$(VENV)/bin/taops import $(BOOK)
