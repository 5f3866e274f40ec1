"""Chunking in BigQuery (the JavaScript UDF) gives every chunk the id, place and hash Python gives."""

import importlib
import pydoc
import random

import pandas as pd
import pytest

from embed_assets.corpus.chunk_rows import chunk_budget, chunk_corpus
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.hashing import hash_prefix, normalized_corpus
from embed_assets.corpus.validation import CorpusColumns, CorpusError, validate_corpus
from embed_assets.placements.bigquery.chunking_sql import CHUNKING_JS, ChunkingSQL
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import write_bigquery_table
from tests.placements.bigquery.conftest import Stage

MODEL, TASK = "text-embedding-005", "RETRIEVAL_DOCUMENT"
COLUMNS = CorpusColumns(id_column="doc_id", text_column="body", title_column="title")
KEYS = ["id", "document_id", "chunk_index", "chunk_start", "chunk_end", "content_hash", "reason"]


def _module_text(name: str) -> str:
    return pydoc.render_doc(importlib.import_module(name), renderer=pydoc.plaintext)


def _unusual_texts(count: int) -> list[str]:
    """Texts of white space Python and JavaScript see differently, emoji, accents, long words."""
    letters = list("abc DEF. gh!\n\n? \t\u00e9\u3000\u2028x1,;\U0001f600\u0085\x1c漢字")
    draw = random.Random(7)
    return [
        "".join(draw.choice(letters) for _ in range(draw.randint(200, 2500))) for _ in range(count)
    ]


def _corpus() -> pd.DataFrame:
    texts = [_module_text(name) for name in ("argparse", "json", "textwrap")]
    texts += _unusual_texts(12) + ["x" * 3000, "\U0001f600" * 900, "short text"]
    frame = pd.DataFrame(
        {
            "doc_id": [f"doc-{i}" for i in range(len(texts))],
            "body": texts,
            "title": [None if i % 3 else f"Title {i} ✓" for i in range(len(texts))],
        }
    )
    rejected = pd.DataFrame({"doc_id": ["empty", "dup", "dup"], "body": ["  ", "one", "two"]})
    return pd.concat([frame, rejected.assign(title=None)], ignore_index=True)


def _python(frame: pd.DataFrame, chunking: Chunking) -> pd.DataFrame:
    validated = validate_corpus(frame, COLUMNS, source="t")
    normalized = normalized_corpus(
        validated, model=MODEL, task_type=TASK, output_dimensionality=None
    )
    return chunk_corpus(
        normalized, chunking=chunking, model=MODEL, task_type=TASK, output_dimensionality=None
    )


def _stage(stage: Stage, uri: str, chunking: Chunking):  # type: ignore[no-untyped-def]
    return stage(
        uri,
        COLUMNS,
        hash_prefix=hash_prefix(model=MODEL, task_type=TASK, output_dimensionality=None),
        chunking=ChunkingSQL(
            max_tokens=chunk_budget(chunking, model=MODEL), overlap_tokens=chunking.overlap_tokens
        ),
    )


def _keys(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    cells = frame[KEYS].astype(object).where(frame[KEYS].notna(), None)
    return sorted(
        tuple(str(int(v)) if isinstance(v, float) else str(v) for v in row)
        for row in cells.itertuples(index=False, name=None)
    )


@pytest.mark.parametrize(
    "chunking",
    [Chunking(max_tokens=120), Chunking(max_tokens=300, overlap_tokens=30), Chunking()],
    ids=["small", "overlap", "model-default"],
)
def test_chunks_in_bigquery_are_the_chunks_of_python(
    bigquery_emulator: BigQueryTestSpace, stage: Stage, chunking: Chunking
) -> None:
    """The same corpus chunked by both paths: ids, places, hashes and rejections agree."""
    frame = _corpus()
    project = bigquery_emulator.project
    uri = write_bigquery_table(f"{bigquery_emulator.dataset('raw')}.docs", frame, project=project)
    staged, rows = _stage(stage, uri, chunking)
    expected = _python(frame, chunking)
    assert expected["chunk_index"].max() >= 2  # long texts did become several chunks
    assert _keys(rows) == _keys(expected)
    chunks, expected_chunks = rows[rows["reason"].isna()], expected[expected["reason"].isna()]
    texts = dict(zip(expected_chunks["id"], expected_chunks["content"], strict=True))
    assert all(texts[i] == c for i, c in zip(chunks["id"], chunks["content"], strict=True))
    assert staged.documents == len(frame)
    assert staged.rows == len(expected)
    assert staged.rejected_by_reason == expected["reason"].value_counts().to_dict()
    assert staged.rejected == 3  # the empty text and both rows of the duplicated id


def test_the_udf_body_can_be_quoted_as_a_raw_triple_quoted_string() -> None:
    """`chunking.js` goes into `r\"\"\"...\"\"\"` in SQL: it must not end that string early."""
    assert '"""' not in CHUNKING_JS and "return documentSpans(" in CHUNKING_JS


def test_a_title_that_leaves_no_room_is_one_line(
    bigquery_emulator: BigQueryTestSpace, stage: Stage
) -> None:
    """The UDF's refusal comes back as the corpus error Python raises, in one line."""
    frame = pd.DataFrame({"doc_id": ["a"], "body": ["text " * 50], "title": ["word " * 40]})
    project = bigquery_emulator.project
    uri = write_bigquery_table(f"{bigquery_emulator.dataset('raw')}.docs", frame, project=project)
    with pytest.raises(CorpusError) as raised:
        _stage(stage, uri, Chunking(max_tokens=40))
    message = str(raised.value)
    assert "\n" not in message
    assert "leaves no room in chunks of 40 tokens" in message
