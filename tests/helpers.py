"""Helpers the tests share: corpora, table reads, sensor ticks and the accounting invariant."""

import time
from pathlib import Path

import dagster as dg
import numpy as np
import orjson
import pandas as pd

from embed_assets import DuckDBEmbeddingStore, EmbeddingPipeline
from embed_assets.cli.runner import RunSummary
from embed_assets.corpus.prepared import PreparedCorpus, write_prepared
from embed_assets.placements.process.plan import Plan, plan_refresh
from embed_assets.store.base import no_stored_rows, write_keys

VERTEX_MODEL = "text-embedding-005"

WORDS = [
    "river",
    "mountain",
    "data",
    "table",
    "query",
    "vector",
    "model",
    "batch",
    "job",
    "sensor",
    "asset",
    "lineage",
    "corpus",
    "index",
    "search",
    "cloud",
    "storage",
    "python",
    "library",
    "function",
    "class",
    "method",
    "string",
    "number",
    "date",
    "time",
]


def planned_against_an_empty_table(corpus: PreparedCorpus | pd.DataFrame, folder: Path) -> Plan:
    """The plan of a prepared corpus (or frame) against a table with no rows, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_keys(no_stored_rows(), folder / "stored.parquet")
    if isinstance(corpus, pd.DataFrame):
        corpus = write_prepared(corpus, folder / "corpus.parquet")
    return plan_refresh(corpus, folder / "stored.parquet", folder=folder)


def module_documentation(*modules: str) -> str:
    """Real prose and code: the named modules' documentation as `pydoc` renders it."""
    import importlib
    import pydoc

    return "\n\n".join(
        pydoc.plain(pydoc.render_doc(importlib.import_module(name))) for name in modules
    )


def long_documents(count: int, *, words: int) -> list[str]:
    """`count` distinct real texts of about `words` words each, cut from module documentation."""
    pool = module_documentation("argparse", "json", "textwrap", "pathlib", "logging").split()
    step = max(1, (len(pool) - words) // max(1, count))
    return [" ".join(pool[i * step : i * step + words]) for i in range(count)]


def make_corpus(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """A corpus of distinct short texts with ids doc-0000..."""
    texts = []
    for i in range(rows):
        words = [WORDS[(i * 7 + j * (seed + 3)) % len(WORDS)] for j in range(6)]
        texts.append(f"document {i}: " + " ".join(words))
    return pd.DataFrame({"id": [f"doc-{i:04d}" for i in range(rows)], "content": texts})


def table(defs: dg.Definitions, pipeline: EmbeddingPipeline) -> pd.DataFrame:
    store: DuckDBEmbeddingStore = defs.resources[pipeline.names.store_key]
    return store.read(pipeline.name)


def assert_accounted(summary: RunSummary, corpus: pd.DataFrame) -> None:
    """The invariant: corpus rows = embedded + failed + rejected."""
    assert summary.rows_read == len(corpus)
    assert summary.embedded + summary.failed + summary.rejected == len(corpus)


def tick_sensor(
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> dg.SensorResult:
    """Evaluates one tick of the pipeline's sensor with its backend resource."""
    sensor = defs.resolve_sensor_def(pipeline.sensor_name)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={pipeline.names.backend_key: defs.resources[pipeline.names.backend_key]},
    ) as context:
        return sensor.evaluate_tick(context)


def tick_until_requested(
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    *,
    ticks: int = 300,
    cursor: str | None = None,
) -> tuple[dg.SensorResult, str | None]:
    """Ticks the sensor until it requests a run (every 0.2 s); returns that tick and its cursor.

    Args:
        defs: the pipeline's definitions.
        pipeline: the pipeline.
        instance: the Dagster instance.
        ticks: the most ticks to try.
        cursor: the cursor to go on from (None: the first tick).
    """
    for _ in range(ticks):
        tick = tick_sensor(defs, pipeline, instance, cursor)
        cursor = tick.cursor
        if tick.run_requests:
            break
        time.sleep(0.2)
    return tick, cursor


def materialize_submission(
    defs: dg.Definitions, pipeline: EmbeddingPipeline, instance: dg.DagsterInstance
) -> None:
    """Materializes the corpus and the batch job: jobs are submitted, nothing is landed yet."""
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        instance=instance, asset_selection=[pipeline.corpus_key, pipeline.batch_job_key]
    ).success


def job_records(workdir: Path) -> list[dict[str, object]]:
    """Every job record the local backend wrote under `workdir` (a half-written one is skipped)."""
    found = []
    for path in sorted((workdir / "jobs").glob("*/job.json")):
        try:
            found.append(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue
    return found


def write_bigquery_table(table: str, frame: pd.DataFrame, *, project: str) -> str:
    """Replaces BigQuery table `dataset.table` with `frame` (through a Parquet load job).

    Returns its `bq://` address. Object columns load as STRING, integer ones as INT64.
    """
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    from embed_assets.bigquery.client import bigquery_client

    dataset = table.split(".")[0]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    buffer.seek(0)
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{dataset}", exists_ok=True)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        )
        client.load_table_from_file(buffer, f"{project}.{table}", job_config=config).result()
    return f"bq://{project}.{table}"


def assert_same_rows(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Asserts two frames hold the same rows, whichever way each marks a missing value."""
    as_objects = [
        frame.astype(object).map(lambda v: None if v is pd.NA or v is np.nan else v)
        for frame in (found, expected)
    ]
    pd.testing.assert_frame_equal(*as_objects)
