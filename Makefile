# One-line entry points; each works on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch must be installed before sentence-transformers, or pip pulls CUDA wheels.
TORCH := torch==2.13.0

.PHONY: run test lint typecheck pytest dev bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[local,ui]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[local,ui,dev]"
	command -v chromium >/dev/null || $(MAKE) chromium
	touch $@ $(VENV)/.installed-run

# The browser test drives Debian's Chromium through Playwright (Playwright's own download is
# not reachable here); installed once per machine.
chromium:
	apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

run: $(VENV)/.installed-run
	HF_HUB_OFFLINE=1 $(BIN)/embed-assets run

test: $(VENV)/.installed-dev
	$(BIN)/ruff check embed_assets tests bench
	$(BIN)/ruff format --check embed_assets tests bench
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -n 3  # most tests wait on jobs and servers: 3 at once

# the same instance as `make run`; created here too, so `make dev` also works on its own
dev: $(VENV)/.installed-run
	$(BIN)/python -c "from pathlib import Path; from embed_assets.cli.workdir import prepare_workdir; prepare_workdir(Path('.embed-assets'))"
	DAGSTER_HOME=$(CURDIR)/.embed-assets/dagster HF_HUB_OFFLINE=1 $(BIN)/dagster dev -w workspace.yaml

bench: $(VENV)/.installed-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .embed-assets
