"""What the compiled accelerators buy: the pure-Python paths' preparation against the compiled.

The same corpus and batch-job work as the preparation figures (documents, and documents cut
into chunks), once with the extensions and once with `EMBED_ASSETS_PURE_PYTHON=1`, as an
installation without a C compiler runs it: chunks cut by `corpus.pure_splitter`, content
hashes by DuckDB's `sha256`. Both must submit the same prompts; the time ratio is reported.
"""

from pathlib import Path
from typing import Any

from bench.data import CHUNK_TOKENS, chunked_corpus, corpus
from bench.harness import Row, ratio_row, run_task

PURE_PYTHON = {"EMBED_ASSETS_PURE_PYTHON": "1"}


def accelerators(*, workdir: Path, sizes: Any, repeats: int) -> tuple[list[Row], dict[str, Any]]:
    """Pure-Python preparation time / compiled, for documents and for chunks."""
    documents = min(sizes.corpus_rows)
    cases = {
        f"prepare {documents:,} docs": (str(corpus(workdir, rows=documents)), None),
        f"chunk + hash + diff {sizes.chunked_documents:,} docs": (
            str(chunked_corpus(workdir, documents=sizes.chunked_documents)),
            CHUNK_TOKENS,
        ),
    }
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for label, (folder, chunk_tokens) in cases.items():
        compiled = run_task("prepare_ours", repeats, folder=folder, chunk_tokens=chunk_tokens)
        pure = run_task(
            "prepare_ours", repeats, env=PURE_PYTHON, folder=folder, chunk_tokens=chunk_tokens
        )
        same = pure.extra("prompts") == compiled.extra("prompts")
        rows.append(
            ratio_row(
                f"{label}, pure Python vs compiled",
                ours=pure.seconds,
                baseline=compiled.seconds,
                unit="s",
                reported=True,
                note="same prompts" if same else "DIFFERENT PROMPTS",
            )
        )
        rows.append(
            Row(
                f"{label}, prompts: pure Python vs compiled",
                pure.extra("prompts"),
                compiled.extra("prompts"),
                pure.extra("prompts") / max(compiled.extra("prompts"), 1),
                "= 1x",
                same,
                "prompts",
            )
        )
        details[label] = {
            "compiled_seconds": compiled.seconds,
            "pure_python_seconds": pure.seconds,
            "compiled_peak_rss_mb": compiled.peak_rss_mb,
            "pure_python_peak_rss_mb": pure.peak_rss_mb,
        }
    return rows, details
