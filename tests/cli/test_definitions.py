"""The demo definitions load and validate, as `dagster dev -w workspace.yaml` loads them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/cli/ is two below


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "EMBED_ASSETS_WORKDIR": str(tmp_path / "w")}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_graph_has_its_source_assets_checks_sensors_and_downstream() -> None:
    from embed_assets.cli.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "stdlib_docs/source",  # the demo corpus file, observed
        "stdlib_docs/corpus",
        "stdlib_docs/embedding_batch_job",
        "stdlib_docs/embeddings",
        "stdlib_docs/nearest_neighbours",
    }
    assert defs.resolve_sensor_def("stdlib_docs_batch_job_sensor") is not None
    assert defs.resolve_sensor_def("stdlib_docs_automation_sensor") is not None
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "rejected_rows",
        "coverage",
        "dimension",
        "finite_values",
        "rows_accounted",
        "not_truncated",
    }
