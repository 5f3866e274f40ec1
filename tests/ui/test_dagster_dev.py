"""The pipeline in a real `dagster dev`, driven through its GraphQL API as the UI drives it."""

import time

import pandas as pd
import pytest

from tests.ui.conftest import (
    ASSETS,
    DOWNSTREAM,
    SENSOR_RUNS,
    DagsterDev,
    latest,
    location,
    run_status,
    stale,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_materialize_all_then_an_edited_corpus_refreshes_everything_by_itself(
    dagster_dev: DagsterDev,
) -> None:
    dev = dagster_dev
    code_location = location(dev)
    started = time.monotonic()
    run_id = dev.launch(code_location, [*ASSETS, DOWNSTREAM])
    status = dev.wait_for(
        lambda: (s := run_status(dev, run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        timeout=120,
        what="the Materialize-all run",
    )
    assert status == "SUCCESS"  # green while the jobs run: embeddings lands nothing yet
    materialize_all_s = time.monotonic() - started

    landed = dev.wait_for(
        lambda: latest(dev, DOWNSTREAM),
        timeout=180,
        what="the job sensor's run to land the submission and refresh search_index",
    )
    sensor_run = dev.wait_for(  # the run that refreshed search_index
        lambda: (s := run_status(dev, landed["runId"])) not in ("STARTED", "STARTING") and s,
        timeout=60,
        what="the job sensor's run to finish",
    )
    first_refresh_s = time.monotonic() - started
    assert sensor_run == "SUCCESS"
    runs = dev.graphql(SENSOR_RUNS, {"sensor": "docs_batch_job_sensor"})["runsOrError"]
    # the sensor's run lands, unless the jobs finished before Materialize all reached its
    # embeddings step (a slow machine): that run landed them, and the sensor waited for it
    landed_by_materialize_all = landed["runId"] == run_id
    assert [r["runId"] for r in runs["results"]] == (
        [] if landed_by_materialize_all else [landed["runId"]]
    ), f"Materialize all was {run_id}"
    assert latest(dev, ["docs", "embeddings"]) is not None
    # the source's first observation may come after corpus ran (then it waits for the
    # automation to have seen that run): a no-op refresh follows
    dev.wait_for(
        lambda: set(stale(dev).values()) == {"FRESH"},
        timeout=180,
        what=f"every asset to be fresh (now {stale(dev)})",
        every=2.0,
    )

    corpus = pd.read_csv(dev.workdir / "docs.csv")
    corpus.loc[0, "content"] = "an edited text that must be embedded again"
    edited = time.time()
    corpus.to_csv(dev.workdir / "docs.csv", index=False)
    edited_at = time.monotonic()
    refreshed = dev.wait_for(
        lambda: (
            (m := latest(dev, DOWNSTREAM))
            and float(m["timestamp"]) / 1000 > edited
            and m["runId"] != landed["runId"]
            and m
        ),
        timeout=300,
        what="the edited corpus to be observed, submitted, landed and refreshed downstream",
        every=2.0,
    )
    lineage_refresh_s = time.monotonic() - edited_at
    embeddings = latest(dev, ["docs", "embeddings"])
    assert embeddings is not None and float(embeddings["timestamp"]) / 1000 > edited
    assert refreshed["runId"] == embeddings["runId"]  # the sensor's run: table, then downstream
    print(
        f"\nmaterialize all: {materialize_all_s:.0f} s; first landing + downstream: "
        f"{first_refresh_s:.0f} s; edit -> downstream refreshed: {lineage_refresh_s:.0f} s"
    )
