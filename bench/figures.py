"""The figures of the suite: each generates its data, measures ours and a baseline, returns rows."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.accelerators import accelerators
from bench.data import (
    CHUNK_TOKENS,
    LINES_PER_FILE,
    chunked_corpus,
    corpus,
    landing_submission,
    prediction_files,
)
from bench.harness import MB, Row, ratio_row, run_task
from bench.sensor_tick import measure_ticks
from bench.sources import sources
from bench.warehouse import warehouse

Result = tuple[list[Row], dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    """How big each figure's data is."""

    ingest_lines: tuple[int, ...]
    json_baseline_lines: int
    corpus_rows: tuple[int, ...]
    table_rows: int
    table_dimension: int
    changed_rows: int
    sensor_jobs: int
    texts: int
    chunked_documents: int = 100_000
    demo_texts: int = 100_000  # the whole demo corpus
    long_documents: int = 400

    @classmethod
    def full(cls) -> "Sizes":
        """The sizes of the targets' figures."""
        return cls(
            (10_000, 30_000, 100_000),
            20_000,
            (1_000_000, 5_000_000),
            1_000_000,
            768,
            10_000,
            200,
            512,
        )

    @classmethod
    def quick(cls) -> "Sizes":
        """A smoke run: every code path, small data."""
        return cls(
            (10_000, 20_000),
            10_000,
            (20_000, 50_000),
            100_000,
            32,
            1_000,
            20,
            64,
            2_000,
            demo_texts=200,
            long_documents=20,
        )


def ingest(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Figure 2 and the ingest half of figure 7."""
    largest = max(sizes.ingest_lines)
    folder = str(prediction_files(workdir, lines=largest))
    files = largest // LINES_PER_FILE
    ours = run_task("ingest_ours", repeats, folder=folder)
    duck = run_task("ingest_duckdb_insert", repeats, folder=folder)
    sample_files = sizes.json_baseline_lines // LINES_PER_FILE
    plain = run_task("ingest_json_pandas", repeats, folder=folder, files=sample_files)
    one_file = run_task("ingest_ours", repeats, folder=folder, files=1)
    rate = largest / ours.seconds
    result_mb = largest * 768 * 4 / MB
    rows = [
        ratio_row(
            f"ingest {largest:,} lines vs one DuckDB INSERT ... FROM read_json",
            ours=rate,
            baseline=largest / duck.seconds,
            unit="rows/s",
            at_least=0.9,
        ),
        ratio_row(
            f"ingest vs json.loads + pandas ({sizes.json_baseline_lines:,} lines)",
            ours=rate,
            baseline=sizes.json_baseline_lines / plain.seconds,
            unit="rows/s",
            at_least=4,
        ),
        ratio_row(
            "ingest peak RSS vs float32 result + 500 MB",
            ours=ours.peak_rss_mb,
            baseline=result_mb + 500,
            unit="MB",
            at_most=1.0,
        ),
        ratio_row(
            f"ingest peak RSS, {files} files vs 1 file",
            ours=ours.peak_rss_mb,
            baseline=one_file.peak_rss_mb,
            unit="MB",
            at_most=1.3,
        ),
    ]
    scaling = {}
    for lines in sizes.ingest_lines:
        measured = (
            ours
            if lines == largest
            else run_task("ingest_ours", repeats, folder=folder, files=lines // LINES_PER_FILE)
        )
        scaling[lines] = {
            "seconds": measured.seconds,
            "peak_rss_mb": measured.peak_rss_mb,
            "us_per_row": measured.seconds / lines * 1e6,
        }
    smallest = min(sizes.ingest_lines)
    rows.append(
        ratio_row(
            f"ingest cost per row, {largest:,} vs {smallest:,} lines",
            ours=scaling[largest]["us_per_row"],
            baseline=scaling[smallest]["us_per_row"],
            unit="us/row",
            at_most=1.3,
        )
    )
    details = {
        "duckdb_peak_rss_mb": duck.peak_rss_mb,
        "json_pandas_peak_rss_mb": plain.peak_rss_mb,
        "scaling": scaling,
        "ours_runs": ours.runs,
    }
    return rows, details


def prepare(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Figure 3 and the preparation half of figure 7: flat memory and linear cost in the size."""
    import pyarrow.parquet as pq

    largest, smallest = max(sizes.corpus_rows), min(sizes.corpus_rows)
    scaling: dict[int, dict[str, float]] = {}
    for count in sizes.corpus_rows:
        folder = str(corpus(workdir, rows=count))
        ours = run_task("prepare_ours", repeats, folder=folder)
        scaling[count] = {
            "seconds": ours.seconds,
            "peak_rss_mb": ours.peak_rss_mb,
            "us_per_row": ours.seconds / count * 1e6,
            "prompts": ours.extra("prompts"),
        }
    folder = str(corpus(workdir, rows=largest))
    baseline = run_task("prepare_duckdb", repeats, folder=folder)
    arrow_mb = pq.read_table(Path(folder) / "corpus.parquet").nbytes / MB
    expected = largest // 100
    prompts = int(scaling[largest]["prompts"])
    rows = [
        ratio_row(
            f"prepare {largest:,} docs vs one DuckDB statement",
            ours=scaling[largest]["seconds"],
            baseline=baseline.seconds,
            unit="s",
            at_most=1.5,
        ),
        ratio_row(
            f"prepare peak RSS, {largest:,} vs {smallest:,} docs",
            ours=scaling[largest]["peak_rss_mb"],
            baseline=scaling[smallest]["peak_rss_mb"],
            unit="MB",
            at_most=1.2,
        ),
        Row(
            "prompts submitted",
            prompts,
            expected,
            prompts / expected,
            "= 1x",
            prompts == expected == baseline.extra("prompts"),
            "prompts",
        ),
        ratio_row(
            f"prepare cost per row, {largest:,} vs {smallest:,} docs",
            ours=scaling[largest]["us_per_row"],
            baseline=scaling[smallest]["us_per_row"],
            unit="us/row",
            at_most=1.3,
        ),
    ]
    return rows, {
        "baseline_peak_rss_mb": baseline.peak_rss_mb,
        "corpus_arrow_mb": arrow_mb,
        "scaling": scaling,
    }


def landing(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Landing's memory does not grow with the corpus: the same change into a bigger table.

    Each corpus has the same number of new texts (the smallest corpus's 1 %), so the prediction
    files are alike and only the rows landing must keep, delete and count grow.
    """
    largest, smallest = max(sizes.corpus_rows), min(sizes.corpus_rows)
    new_rows = smallest // 100
    runs = {}
    for count in (smallest, largest):
        folder = corpus(workdir, rows=count, new_rows=new_rows)
        landing_submission(folder)
        runs[count] = run_task("land_ours", repeats, folder=str(folder))
    accounted = all(run.extra("accounted") for run in runs.values())
    written = [int(run.extra("written")) for run in runs.values()]
    rows = [
        ratio_row(
            f"landing peak RSS, {largest:,} vs {smallest:,}-row table ({new_rows:,} new texts)",
            ours=runs[largest].peak_rss_mb,
            baseline=runs[smallest].peak_rss_mb,
            unit="MB",
            at_most=1.2,
        ),
        Row(
            "landed rows accounted (embedded + failed + rejected = corpus)",
            float(written[-1]),
            float(new_rows),
            written[-1] / new_rows,
            "= 1x",
            accounted and written == [new_rows, new_rows],
            "rows",
        ),
    ]
    return rows, {
        "seconds": {count: run.seconds for count, run in runs.items()},
        "peak_rss_mb": {count: run.peak_rss_mb for count, run in runs.items()},
    }


def chunked(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Documents chunked, hashed and diffed vs the split-free statement."""
    import pyarrow.parquet as pq

    folder = str(chunked_corpus(workdir, documents=sizes.chunked_documents))
    ours = run_task("prepare_ours", repeats, folder=folder, chunk_tokens=CHUNK_TOKENS)
    baseline = run_task("prepare_chunked_duckdb", repeats, folder=folder)
    chunks = int(ours.extra("rows"))
    arrow_mb = pq.read_table(Path(folder) / "chunks.parquet").nbytes / MB
    label = f"{sizes.chunked_documents:,} docs ({chunks:,} chunks)"
    rows = [
        ratio_row(
            f"chunk + hash + diff {label} vs one DuckDB statement",
            ours=ours.seconds,
            baseline=baseline.seconds,
            unit="s",
            at_most=1.5,
        ),
        ratio_row(
            "chunked prepare peak RSS vs the chunks as Arrow",
            ours=ours.peak_rss_mb,
            baseline=arrow_mb,
            unit="MB",
            at_most=2.0,
        ),
        Row(
            "chunked prompts submitted",
            ours.extra("prompts"),
            baseline.extra("prompts"),
            ours.extra("prompts") / max(baseline.extra("prompts"), 1),
            "= 1x",
            ours.extra("prompts") == baseline.extra("prompts"),
            "prompts",
        ),
    ]
    return rows, {"chunks": chunks, "chunks_arrow_mb": arrow_mb}


def upsert(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Figure 4: a 1 % change costs a small fraction of rewriting the table."""
    from bench.tasks import _table_rows
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    path = workdir / f"table-{sizes.table_rows}-{sizes.table_dimension}.duckdb"
    if not path.exists():
        store = DuckDBEmbeddingStore(path=str(path))
        step = 100_000
        for offset in range(0, sizes.table_rows, step):
            store.upsert(
                "bench",
                _table_rows(
                    min(step, sizes.table_rows - offset), sizes.table_dimension, offset=offset
                ),
            )
    ours = run_task(
        "upsert_ours",
        repeats,
        table=str(path),
        rows=sizes.table_rows,
        changed=sizes.changed_rows,
        dimension=sizes.table_dimension,
    )
    full = run_task(
        "rewrite_table",
        repeats,
        table=str(path),
        rows=sizes.table_rows,
        dimension=sizes.table_dimension,
    )
    rows = [
        ratio_row(
            f"upsert {sizes.changed_rows:,} rows into {sizes.table_rows:,} vs rewrite",
            ours=ours.seconds,
            baseline=full.seconds,
            unit="s",
            at_most=0.10,
        ),
    ]
    return rows, {"dimension": sizes.table_dimension, "table_rows_after": ours.extra("table_rows")}


def sensor(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Figure 5: polling cost per tick with many unfinished jobs."""
    measured = measure_ticks(jobs=sizes.sensor_jobs, short_budget_seconds=0.25)
    jobs = sizes.sensor_jobs
    rows = [
        Row(
            f"sensor tick, {jobs} unfinished jobs: gets",
            measured["full_tick_gets"],
            jobs,
            measured["full_tick_gets"] / jobs,
            "<= 1 per job",
            measured["full_tick_gets"] <= jobs,
            "calls",
        ),
        Row(
            f"sensor tick wall time, {jobs} jobs",
            measured["full_tick_seconds"],
            40.0,
            measured["full_tick_seconds"] / 40.0,
            "<= budget",
            measured["full_tick_seconds"] <= 40.0,
            "s",
        ),
        Row(
            "sensor tick with a 0.25 s budget: wall time",
            measured["short_tick_max_seconds"],
            0.25,
            measured["short_tick_max_seconds"] / 0.25,
            "<= 2x budget",
            measured["short_tick_max_seconds"] <= 0.5,
            "s",
            note=f"{measured['short_ticks']} ticks to poll every job once",
        ),
        Row(
            "sensor tick with no unfinished job: calls",
            measured["idle_tick_gets"],
            0,
            0.0,
            "= 0",
            measured["idle_tick_gets"] == 0,
            "calls",
        ),
    ]
    return rows, measured


def local_model(*, workdir: Path, sizes: Sizes, repeats: int) -> Result:
    """Figure 6: the local backend's MiniLM against bare `SentenceTransformer.encode`."""
    ours = run_task("encode_ours", repeats, count=sizes.texts, batch_size=64)
    bare = run_task("encode_sentence_transformers", repeats, count=sizes.texts, batch_size=64)
    rows = [
        ratio_row(
            f"MiniLM docs/s ({ours.extra('device')}, batch 64)",
            ours=sizes.texts / ours.seconds,
            baseline=sizes.texts / bare.seconds,
            unit="docs/s",
            at_least=0.9,
        ),
    ]
    details: dict[str, Any] = {
        "device": ours.extra("device"),
        "baseline_threads": bare.extra("threads"),
    }
    for kind, count, shown in (
        ("demo", sizes.demo_texts, "the demo corpus"),
        ("long", sizes.long_documents, f"{sizes.long_documents:,} documents of 5,000 characters"),
    ):
        job = run_task("local_job", repeats, kind=kind, count=count)
        process = run_task("bare_encode_process", repeats, kind=kind, count=count)
        texts = job.extra("rows")
        rows.append(
            ratio_row(
                f"local job texts/s vs a bare encode process, {shown} ({texts:,} texts, "
                "start-up included)",
                ours=texts / job.seconds,
                baseline=process.extra("rows") / process.seconds,
                unit="texts/s",
                at_least=0.8,
            )
        )
        details[f"job_{kind}"] = {"seconds": job.seconds, "texts": texts}
        details[f"bare_process_{kind}"] = {"seconds": process.seconds}
    return rows, details


FIGURES = {
    "ingest": ingest,
    "prepare": prepare,
    "chunked": chunked,
    "landing": landing,
    "upsert": upsert,
    "sensor": sensor,
    "local_model": local_model,
    "warehouse": warehouse,
    "accelerators": accelerators,
    "sources": sources,
}
