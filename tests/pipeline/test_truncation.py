"""Truncation is never silent: texts longer than the model reads are counted, kept and warned of.

A new user's run: 20 documents, 10 of them 6,000 words of real documentation,
through `embed-assets run` on the embedded default (lexical-hash reads 2,048 words).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from embed_assets import DuckDBEmbeddingStore
from tests.helpers import long_documents, make_corpus

pytestmark = pytest.mark.e2e  # runs the pipeline through the CLI


def _run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embed_assets.cli", "--workdir", "w", "run"]
        + ["--corpus", "long.jsonl", "--model", "lexical-hash", *options],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_long_documents_are_counted_as_truncated_and_the_check_warns(tmp_path: Path) -> None:
    short = make_corpus(10)
    long = pd.DataFrame(
        {"id": [f"long-{i}" for i in range(10)], "content": long_documents(10, words=6000)}
    )
    pd.concat([short, long]).to_json(tmp_path / "long.jsonl", orient="records", lines=True)

    result = _run(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["embedded"] == 20 and summary["failed"] == 0
    assert summary["truncated"] == 10
    assert summary["truncated_examples"] == [f"long-{i}" for i in range(5)]
    assert summary["checks"]["not_truncated"] is False
    assert summary["warnings"] == ["not_truncated"]  # a warning: the run exits 0
    assert all(passed for name, passed in summary["checks"].items() if name != "not_truncated")
    table = DuckDBEmbeddingStore(path=str(tmp_path / "w" / "embeddings.duckdb")).read("corpus")
    cut = table.set_index("id")["truncated"]
    assert sorted(cut[cut].index) == sorted(long["id"])

    again = _run(tmp_path)  # nothing changed, nothing paid: the summary still says what was cut
    assert again.returncode == 0, again.stderr
    assert "prompts         0" in again.stdout
    assert "truncated       10 rows were longer than lexical-hash reads" in again.stdout
    assert "(e.g. long-0, long-1, long-2, long-3, long-4)" in again.stdout


def test_chunk_tokens_embeds_the_long_documents_whole_and_uncut(tmp_path: Path) -> None:
    """The same corpus with `--chunk-tokens 1000 --chunk-overlap 50`: chunks, nothing cut."""
    long = pd.DataFrame(
        {"id": [f"long-{i}" for i in range(3)], "content": long_documents(3, words=6000)}
    )
    pd.concat([make_corpus(5), long]).to_json(tmp_path / "long.jsonl", orient="records", lines=True)
    result = _run(tmp_path, "--chunk-tokens", "1000", "--chunk-overlap", "50", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["documents"], summary["truncated"], summary["failed"]) == (8, 0, 0)
    assert summary["checks"]["not_truncated"] is True
    table = DuckDBEmbeddingStore(path=str(tmp_path / "w" / "embeddings.duckdb")).read("corpus")
    assert summary["embedded"] == len(table) > 8
    assert set(table["document_id"]) == {*make_corpus(5)["id"], *long["id"]}
    again = _run(tmp_path, "--chunk-tokens", "1000", "--chunk-overlap", "50")
    assert again.returncode == 0, again.stderr
    assert "prompts         0" in again.stdout and "(chunks of 8 documents)" in again.stdout
    search = subprocess.run(
        [sys.executable, "-m", "embed_assets.cli", "--workdir", "w", "search", "parse arguments"],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert search.returncode == 0, search.stderr
    results = re.findall(
        r"^\d\.\d{3}  (\S+)  \((\S+), characters (\d+)-(\d+)\)\n +“(.*)”$",
        search.stdout,
        flags=re.MULTILINE,
    )
    found = [document for document, *_ in results]
    assert len(found) == 5 == len(set(found)), search.stdout  # five documents, each once
    texts = dict(zip(long["id"], long["content"], strict=True))
    texts.update(zip(make_corpus(5)["id"], make_corpus(5)["content"], strict=True))
    for document, _, start, end, passage in results:  # the chunk's own text, from the corpus
        expected = " ".join(texts[document][int(start) : int(end)].split())
        assert passage.removesuffix("…") == expected[: len(passage.removesuffix("…"))] != ""
