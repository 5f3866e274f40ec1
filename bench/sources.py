"""JSONL and CSV corpora prepared in bounded memory, against the Parquet path on the same rows.

The preparation figures' documents (and chunked documents), written once more as JSONL and
CSV beside their Parquet file; each is prepared by `EmbeddingPipeline.prepare_file` in a
process of its own. Memory (the process's peak with its JSONL reader processes') must stay
flat from the smallest size to the largest and near the Parquet path's; JSONL's time is
reported against Parquet's.
"""

from pathlib import Path
from typing import Any

import duckdb

from bench.data import CHUNK_TOKENS, chunked_corpus, corpus
from bench.harness import Row, ratio_row, run_task

FORMATS = ("parquet", "jsonl", "csv")


def source_files(folder: Path) -> dict[str, str]:
    """The folder's `corpus.parquet` with JSONL and CSV copies of it (written once)."""
    parquet = folder / "corpus.parquet"
    files = {"parquet": str(parquet)}
    for kind, options in (("jsonl", "FORMAT json"), ("csv", "FORMAT csv, HEADER")):
        path = folder / f"corpus.{kind}"
        if not path.exists():
            partial = path.with_suffix(f".{kind}.partial")
            duckdb.sql(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{partial}' ({options})")
            partial.rename(path)
        files[kind] = str(path)
    return files


def sources(*, workdir: Path, sizes: Any, repeats: int) -> tuple[list[Row], dict[str, Any]]:
    """Peak RSS and time of JSONL and CSV preparation, from the smallest size to the largest."""
    smallest, largest = min(sizes.corpus_rows), max(sizes.corpus_rows)
    measured: dict[str, dict[int | str, Any]] = {kind: {} for kind in FORMATS}
    cases: list[tuple[int | str, Path]] = [
        (count, corpus(workdir, rows=count)) for count in (smallest, largest)
    ]
    cases.append(("chunked", chunked_corpus(workdir, documents=sizes.chunked_documents)))
    for label, folder in cases:
        chunk_tokens = CHUNK_TOKENS if label == "chunked" else None
        for kind, path in source_files(folder).items():
            run = run_task("prepare_source", repeats, path=path, chunk_tokens=chunk_tokens)
            measured[kind][label] = {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}
            measured[kind][label]["rows"] = run.extra("rows")
    rows: list[Row] = []
    for kind in ("jsonl", "csv"):
        name = kind.upper()
        rows.append(
            ratio_row(
                f"{name} prepare peak RSS, {largest:,} vs {smallest:,} docs",
                ours=measured[kind][largest]["peak_rss_mb"],
                baseline=measured[kind][smallest]["peak_rss_mb"],
                unit="MB",
                at_most=1.2,
            )
        )
        rows.append(
            ratio_row(
                f"{name} prepare peak RSS vs Parquet, {largest:,} docs",
                ours=measured[kind][largest]["peak_rss_mb"],
                baseline=measured["parquet"][largest]["peak_rss_mb"],
                unit="MB",
                at_most=1.2,
            )
        )
    chunked = f"{sizes.chunked_documents:,} docs chunked"
    for label, shown in ((largest, f"{largest:,} docs"), ("chunked", chunked)):
        rows.append(
            ratio_row(
                f"JSONL prepare time vs Parquet, {shown}",
                ours=measured["jsonl"][label]["seconds"],
                baseline=measured["parquet"][label]["seconds"],
                unit="s",
                at_most=1.5,
            )
        )
    rows.append(
        ratio_row(
            f"JSONL chunked prepare peak RSS vs Parquet, {chunked}",
            ours=measured["jsonl"]["chunked"]["peak_rss_mb"],
            baseline=measured["parquet"]["chunked"]["peak_rss_mb"],
            unit="MB",
            at_most=1.2,
        )
    )
    same = {kind: {str(k): v["rows"] for k, v in m.items()} for kind, m in measured.items()}
    rows.append(
        Row(
            "prepared rows, JSONL and CSV vs Parquet",
            sum(same["jsonl"].values()),
            sum(same["parquet"].values()),
            1.0,
            "= 1x",
            same["jsonl"] == same["parquet"] == same["csv"],
            "rows",
        )
    )
    return rows, {kind: {str(k): v for k, v in m.items()} for kind, m in measured.items()}
