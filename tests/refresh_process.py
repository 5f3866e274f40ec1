"""One refresh in its own process, as `embed-assets run` does it, for interruption tests.

`python -m tests.refresh_process WORKDIR CORPUS [--seconds-per-chunk S] [--max-prompts N]
[--rows-per-file R] [--seconds-per-write W]` runs the pipeline `docs` over CORPUS with slow
local jobs (so a test can signal it while they run) and prints the summary as JSON. With
`--vertex-endpoint URL --staging-uri bq://project.dataset --bigquery-dataset D`, the jobs run on
a Vertex emulator (slowed down by the test that started it), staged in BigQuery, and the table
is a BigQuery one; CORPUS may then be a `bq://` table. With
`--seconds-per-write`, landing writes `WORKDIR/landed-<n>` after each write to the table and
then waits, so a test can signal it in the middle of landing. With `--interrupt-at-first-run-end`
the process sends itself SIGINT as its first Dagster run ends (a dagster.yaml log handler).
Tests send it SIGINT or SIGKILL at a real point.
"""

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import yaml

from embed_assets import (
    BatchBackend,
    BigQueryEmbeddingStore,
    DuckDBEmbeddingStore,
    EmbeddingPipeline,
    EmbeddingStore,
    VertexBatchBackend,
)
from embed_assets.cli.runner import run_pipeline
from embed_assets.cli.workdir import prepare_workdir
from embed_assets.store.base import FileLanding
from embed_assets.store.duckdb_writer import DuckDBWriter
from embed_assets.testing import FaultyLocalBatchBackend


class MarkingWriter(DuckDBWriter):
    """A DuckDB writer that marks and pauses after each write, whichever way it lands."""

    def __init__(self, inner: DuckDBWriter, *, marks: Path, seconds: float) -> None:
        super().__init__(inner.con, inner.table, memory_limit=inner.memory_limit)
        self.marks, self.seconds = marks, seconds

    def _mark(self, written: int) -> None:
        (self.marks / f"landed-{len(list(self.marks.glob('landed-*')))}").write_text(str(written))
        time.sleep(self.seconds)

    def __call__(self, rows: pa.Table) -> int:
        written = super().__call__(rows)
        self._mark(written)
        return written

    def land_file(self, path: Path, **settings: Any) -> FileLanding | None:
        landing = super().land_file(path, **settings)
        if landing is not None:
            self._mark(landing.written)
        return landing


class SlowLandingStore(DuckDBEmbeddingStore):
    """The DuckDB store, marking and pausing after each write of a landing."""

    seconds_per_write: float = 0.0
    marks: str = ""

    @contextmanager
    def writer(self, pipeline: str) -> Iterator[DuckDBWriter]:
        with super().writer(pipeline) as write:
            yield MarkingWriter(write, marks=Path(self.marks), seconds=self.seconds_per_write)


class InterruptAtFirstRunEnd(logging.Handler):
    """A Dagster log handler that sends this process SIGINT at the first run's RUN_SUCCESS.

    That is after the run's last step, where Dagster holds a Ctrl-C and would drop it.
    """

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = Path(marker)

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        run_ended = event is not None and event.event_type == dg.DagsterEventType.RUN_SUCCESS
        if run_ended and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGINT)


def _interrupt_at_first_run_end(workdir: Path) -> None:
    handler = {
        "class": f"tests.refresh_process.{InterruptAtFirstRunEnd.__name__}",
        "marker": str(workdir / "interrupted"),
    }
    path = workdir / "dagster" / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config["python_logs"] = {"dagster_handler_config": {"handlers": {"interrupt": handler}}}
    path.write_text(yaml.safe_dump(config))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("corpus")
    parser.add_argument("--seconds-per-chunk", type=float, default=0.0)
    parser.add_argument("--max-prompts", type=int, default=None)
    parser.add_argument("--rows-per-file", type=int, default=None)
    parser.add_argument("--seconds-per-write", type=float, default=0.0)
    parser.add_argument("--interrupt-at-first-run-end", action="store_true")
    parser.add_argument("--vertex-endpoint", default=None)
    parser.add_argument("--staging-uri", default=None)
    parser.add_argument("--bigquery-dataset", default=None)
    args = parser.parse_args(argv)
    # Ctrl-C as a terminal delivers it, even where this process was started from a background
    # job of a non-interactive shell (which starts its commands with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = prepare_workdir(Path(args.workdir))
    if args.interrupt_at_first_run_end:
        _interrupt_at_first_run_end(workdir)
    corpus = args.corpus if args.corpus.startswith("bq://") else str(Path(args.corpus).resolve())
    backend: BatchBackend
    store: EmbeddingStore
    if args.vertex_endpoint:
        project = args.staging_uri.removeprefix("bq://").split(".")[0]
        backend = VertexBatchBackend(
            project=project,
            staging_uri=args.staging_uri,
            api_endpoint=args.vertex_endpoint,
            access_token="emulator",
            retry_initial_delay_seconds=0.05,
        )
        store = BigQueryEmbeddingStore(project=project, dataset=args.bigquery_dataset)
    else:
        backend = FaultyLocalBatchBackend(
            workdir=str(workdir),
            seconds_per_chunk=args.seconds_per_chunk,
            **({"rows_per_output_file": args.rows_per_file} if args.rows_per_file else {}),
        )
        store = SlowLandingStore(
            path=str(workdir / "embeddings.duckdb"),
            seconds_per_write=args.seconds_per_write,
            marks=str(workdir),
        )
    pipeline = EmbeddingPipeline(
        name="docs",
        corpus=corpus,
        model="text-embedding-005" if args.vertex_endpoint else "lexical-hash",
        max_prompts_per_job=args.max_prompts,
        sensor_interval_seconds=1,
    )
    defs = pipeline.build_definitions(backend=backend, store=store)
    with dg.DagsterInstance.get() as instance:
        summary = run_pipeline(
            defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2, log_level="CRITICAL"
        )
    print(json.dumps(summary.to_json()), flush=True)
    os._exit(0)  # skip DuckDB's teardown noise; everything is flushed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
