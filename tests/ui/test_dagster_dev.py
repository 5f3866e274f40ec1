"""The pipeline in a real `dagster dev`, driven through its GraphQL API as the UI drives it."""

import time

import pandas as pd
import pytest

from tests.ui.conftest import DagsterDev

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

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
STALENESS = """
{ assetNodes { assetKey { path } staleStatus isMaterializable } }
"""


def _location(dev: DagsterDev) -> str:
    def loaded() -> str | None:
        entries = dev.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        for entry in entries:
            if (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation":
                return str(entry["name"])
        return None

    return str(dev.wait_for(loaded, timeout=60, what="the code location to load"))


def _run_status(dev: DagsterDev, run_id: str) -> str:
    return str(dev.graphql(RUN, {"id": run_id})["runOrError"]["status"])


def _latest(dev: DagsterDev, path: list[str]) -> dict[str, str] | None:
    found = dev.graphql(LATEST, {"path": path})["assetOrError"]["assetMaterializations"]
    return found[0] if found else None


def _stale(dev: DagsterDev) -> dict[str, str]:
    nodes = dev.graphql(STALENESS)["assetNodes"]
    return {
        "/".join(node["assetKey"]["path"]): node["staleStatus"]
        for node in nodes
        if node["isMaterializable"]
    }


def test_materialize_all_then_an_edited_corpus_refreshes_everything_by_itself(
    dagster_dev: DagsterDev,
) -> None:
    dev = dagster_dev
    location = _location(dev)
    started = time.monotonic()
    launched = dev.graphql(
        LAUNCH,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": p} for p in [*ASSETS, DOWNSTREAM]],
                },
                "mode": "default",
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = dev.wait_for(
        lambda: (s := _run_status(dev, run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        timeout=120,
        what="the Materialize-all run",
    )
    assert status == "SUCCESS"  # green while the jobs run: embeddings lands nothing yet
    materialize_all_s = time.monotonic() - started

    landed = dev.wait_for(
        lambda: _latest(dev, DOWNSTREAM),
        timeout=180,
        what="the job sensor's run to land the submission and refresh search_index",
    )
    sensor_run = dev.wait_for(  # the run that refreshed search_index is the sensor's
        lambda: (s := _run_status(dev, landed["runId"])) not in ("STARTED", "STARTING") and s,
        timeout=60,
        what="the job sensor's run to finish",
    )
    first_refresh_s = time.monotonic() - started
    assert sensor_run == "SUCCESS"
    runs = dev.graphql(SENSOR_RUNS, {"sensor": "docs_batch_job_sensor"})["runsOrError"]
    assert [r["runId"] for r in runs["results"]] == [landed["runId"]]
    assert _latest(dev, ["docs", "embeddings"]) is not None
    # the source's first observation may come after corpus ran: a no-op refresh follows
    dev.wait_for(
        lambda: set(_stale(dev).values()) == {"FRESH"},
        timeout=120,
        what=f"every asset to be fresh (now {_stale(dev)})",
        every=2.0,
    )

    corpus = pd.read_csv(dev.workdir / "docs.csv")
    corpus.loc[0, "content"] = "an edited text that must be embedded again"
    edited = time.time()
    corpus.to_csv(dev.workdir / "docs.csv", index=False)
    edited_at = time.monotonic()
    refreshed = dev.wait_for(
        lambda: (
            (m := _latest(dev, DOWNSTREAM))
            and float(m["timestamp"]) / 1000 > edited
            and m["runId"] != landed["runId"]
            and m
        ),
        timeout=300,
        what="the edited corpus to be observed, submitted, landed and refreshed downstream",
        every=2.0,
    )
    lineage_refresh_s = time.monotonic() - edited_at
    embeddings = _latest(dev, ["docs", "embeddings"])
    assert embeddings is not None and float(embeddings["timestamp"]) / 1000 > edited
    assert refreshed["runId"] == embeddings["runId"]  # the sensor's run: table, then downstream
    print(
        f"\nmaterialize all: {materialize_all_s:.0f} s; first landing + downstream: "
        f"{first_refresh_s:.0f} s; edit -> downstream refreshed: {lineage_refresh_s:.0f} s"
    )
