"""The demo Definitions that `workspace.yaml` loads: the standard-library docstrings pipeline.

Everything lives under the work folder `EMBED_ASSETS_WORKDIR` (default `.embed-assets` in the
current folder): staging, job records and the DuckDB table. `embed-assets run` uses the same
layout, so `dagster dev` with `DAGSTER_HOME=<workdir>/dagster` shows the CLI's history.

The demo corpus is written once to `<workdir>/demo_corpus.jsonl` (the standard library's
docstrings); edit that file and the running `dagster dev` refreshes the pipeline by itself.
"""

import os

from embed_assets.cli.demo import build_definitions, demo_pipeline
from embed_assets.cli.workdir import workdir_from_env

_workdir = workdir_from_env()
defs = build_definitions(
    demo_pipeline(workdir=_workdir, model=os.environ.get("EMBED_ASSETS_MODEL") or None),
    workdir=_workdir,
)
