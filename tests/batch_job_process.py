"""One run of the batch-job asset in its own process, as a run launched from the UI does it.

`python -m tests.batch_job_process WORKDIR CORPUS [--seconds-per-submit S]` materializes the
corpus and batch-job assets of pipeline `docs` (no CLI lock: only the asset's own) on the
instance in `$DAGSTER_HOME`, with 100 prompts per job; each job creation waits S seconds
first, so a second process can start while the first is submitting. Prints JSON: success, the
failure's description, the run id and the prompts submitted.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.backends.base import JobRequest, JobStatus
from embed_assets.pipeline.history import latest_submission
from embed_assets.testing import FaultyLocalBatchBackend


class SlowSubmitBackend(FaultyLocalBatchBackend):
    """The local backend, taking `seconds_per_submit` to create each job."""

    seconds_per_submit: float = 0.0

    def submit(self, request: JobRequest) -> JobStatus:
        time.sleep(self.seconds_per_submit)
        return super().submit(request)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("corpus")
    parser.add_argument("--seconds-per-submit", type=float, default=0.0)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    pipeline = EmbeddingPipeline(
        name="docs", corpus=args.corpus, model="lexical-hash", max_prompts_per_job=100
    )
    defs = pipeline.build_definitions(
        backend=SlowSubmitBackend(workdir=str(workdir), seconds_per_submit=args.seconds_per_submit),
        store=DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb")),
    )
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[pipeline.corpus_key, pipeline.batch_job_key],
            raise_on_error=False,
        )
        failures = [
            e.step_failure_data.user_failure_data.description
            for e in result.all_events
            if e.is_step_failure
            and e.step_failure_data is not None
            and e.step_failure_data.user_failure_data is not None
        ]
        submission = latest_submission(instance, pipeline.batch_job_key)
        mine = submission is not None and result.success
    print(
        json.dumps(
            {
                "success": result.success,
                "failure": failures[0] if failures else None,
                "run_id": result.run_id,
                "prompts": submission.prompts if mine and submission else 0,
            }
        ),
        flush=True,
    )
    os._exit(0)  # skip DuckDB's teardown noise; everything is flushed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
