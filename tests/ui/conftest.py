"""A real `dg dev` (webserver + daemon) on 127.0.0.1, started per test and always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import make_corpus

ROOT = Path(__file__).resolve().parents[2]

# The code location the UI tests load: one pipeline over a CSV in the test's folder, the local
# backend with jobs that take 15 s (so a run finds them unfinished, as with Vertex), and an
# eager asset downstream of the embedding table.
DEFINITIONS = textwrap.dedent(
    """
    import os
    from pathlib import Path

    import dagster as dg

    from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline
    from embed_assets.testing import FaultyLocalBatchBackend

    work = Path(os.environ["UI_TEST_WORKDIR"])
    pipeline = EmbeddingPipeline(
        name="docs", corpus=str(work / "docs.csv"), model="lexical-hash",
        sensor_interval_seconds=5,
    )


    @dg.asset(deps=[pipeline.embeddings_key], automation_condition=dg.AutomationCondition.eager())
    def search_index() -> None:
        \"\"\"Stands for what a user builds on the table.\"\"\"


    defs = dg.Definitions.merge(
        pipeline.build_definitions(
            backend=FaultyLocalBatchBackend(workdir=str(work), seconds_per_chunk=15),
            store=DuckDBEmbeddingStore(path=str(work / "embeddings.duckdb")),
        ),
        dg.Definitions(assets=[search_index]),
    )
    """
)


ASSETS = [["docs", "corpus"], ["docs", "embedding_batch_job"], ["docs", "embeddings"]]
DOWNSTREAM = ["search_index"]

LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } } } } } }
"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }
"""
RUN = """
query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }
"""
SENSOR_RUNS = """
query SensorRuns($sensor: String!) { runsOrError(filter: {tags: [{key: "dagster/sensor_name",
  value: $sensor}]}) { ... on Runs { results { runId status } } } }
"""
LATEST = """
query Latest($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetMaterializations(limit: 1) { runId timestamp } } } }
"""
RUNS = """
query Runs($statuses: [RunStatus!]) { runsOrError(filter: {statuses: $statuses}) {
  ... on Runs { results { runId } } } }
"""
OBSERVED = """
query Observed($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetObservations(limit: 1) { timestamp } } } }
"""
CHECKS = """
query Checks($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  assetChecksOrError { ... on AssetChecks { checks { name
    executionForLatestMaterialization { status } } } } } }
"""
STALENESS = """
{ assetNodes { assetKey { path } staleStatus isMaterializable } }
"""


def location(dev: DagsterDev) -> str:
    def loaded() -> str | None:
        entries = dev.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        for entry in entries:
            if (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation":
                return str(entry["name"])
        return None

    return str(dev.wait_for(loaded, timeout=60, what="the code location to load"))


def run_status(dev: DagsterDev, run_id: str) -> str:
    return str(dev.graphql(RUN, {"id": run_id})["runOrError"]["status"])


def latest(dev: DagsterDev, path: list[str]) -> dict[str, str] | None:
    found = dev.graphql(LATEST, {"path": path})["assetOrError"]["assetMaterializations"]
    return found[0] if found else None


def stale(dev: DagsterDev) -> dict[str, str]:
    nodes = dev.graphql(STALENESS)["assetNodes"]
    return {
        "/".join(node["assetKey"]["path"]): node["staleStatus"]
        for node in nodes
        if node["isMaterializable"]
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterDev:
    """A running `dagster dev` and the folder its pipeline works in."""

    url: str
    workdir: Path
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables or {}})
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = orjson.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return dict(answer["data"])

    def launch(self, code_location: str, assets: list[list[str]]) -> str:
        """Launches a run of `assets`, as the UI's Materialize button does; returns its id."""
        launched = self.graphql(
            LAUNCH,
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": code_location,
                        "repositoryName": "__repository__",
                        "jobName": "__ASSET_JOB",
                        "assetSelection": [{"path": path} for path in assets],
                    },
                    "mode": "default",
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return str(launched["run"]["runId"])

    def wait_for(
        self, condition: Callable[[], Any], *, timeout: float, what: str, every: float = 1.0
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")
            time.sleep(every)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # without a terminal, dagster dev ignores SIGTERM: its group is killed after a short wait
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=3)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    """Starts `dg dev` (as `make dev` does) on a free port in its own process group; ends the
    group after."""
    work, home = tmp_path / "work", tmp_path / "dagster_home"
    work.mkdir()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    make_corpus(40).to_csv(work / "docs.csv", index=False)
    (tmp_path / "ui_definitions.py").write_text(DEFINITIONS)
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dg"),
                "dev",
                "-f",
                str(tmp_path / "ui_definitions.py"),
            ]
            + ["-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env={
                **os.environ,
                "DAGSTER_HOME": str(home),
                "UI_TEST_WORKDIR": str(work),
                "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": str(ROOT),
            },
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    dev = DagsterDev(url=f"http://127.0.0.1:{port}", workdir=work, log=log)
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{dev.url}/server_info", timeout=2):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert process.poll() is None, log.read_text(errors="replace")[-3000:]
                return False

        dev.wait_for(ready, timeout=120, what="dagster dev to answer", every=0.5)
        yield dev
    finally:
        _stop(process)


def run_ids(dev: DagsterDev, statuses: tuple[str, ...] | None = None) -> list[str]:
    """The ids of every run (of those in `statuses`, when given)."""
    found = dev.graphql(RUNS, {"statuses": list(statuses) if statuses else None})
    return [str(run["runId"]) for run in found["runsOrError"]["results"]]


def source_observed(dev: DagsterDev) -> bool:
    found = dev.graphql(OBSERVED, {"path": ["docs", "source"]})["assetOrError"]
    return bool(found["assetObservations"])


def check_states(dev: DagsterDev, path: list[str]) -> dict[str, str | None]:
    """Each check's status as the asset page shows it: of the latest materialization."""
    (node,) = dev.graphql(CHECKS, {"path": path})["assetNodes"]
    return {
        check["name"]: (check["executionForLatestMaterialization"] or {}).get("status")
        for check in node["assetChecksOrError"]["checks"]
    }
