"""The work folder: the Dagster instance, staging, job records and the DuckDB table of the CLI."""

import os
from pathlib import Path

WORKDIR_ENV = "EMBED_ASSETS_WORKDIR"
DEFAULT_WORKDIR = ".embed-assets"
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def workdir_from_env() -> Path:
    """Returns the work folder named by `EMBED_ASSETS_WORKDIR`, or `.embed-assets`."""
    return Path(os.environ.get(WORKDIR_ENV, DEFAULT_WORKDIR)).resolve()


def prepare_workdir(workdir: Path) -> Path:
    """Points Dagster and the demo definitions at the work folder; returns its full path."""
    workdir = workdir.resolve()
    home = workdir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ[WORKDIR_ENV] = str(workdir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return workdir
