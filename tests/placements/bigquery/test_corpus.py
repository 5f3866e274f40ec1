"""Validation and hashing in BigQuery give every row the reason and hash Python gives it."""

import pandas as pd
import pytest

from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.hashing import hash_prefix, normalized_corpus
from embed_assets.corpus.validation import CorpusColumns, CorpusError, validate_corpus
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import write_bigquery_table
from tests.placements.bigquery.conftest import Stage

MODEL, TASK, DIMENSION = "text-embedding-005", "RETRIEVAL_DOCUMENT", 256
ROWS = pd.DataFrame(
    {
        "doc_id": ["a", "b", "b", None, "  ", "e", "f", "g", "h", "i", "j"],
        "body": ["plain text", "dup one", "dup two", "no id", "blank id", None, "   ",
                 "\u200b\u200b", "tab\tand\nnewline", "ünïcödé 文字", "\u00a0\u2003"],
        "title": ["T", None, None, None, None, None, None, None, "", "Título", None],
    }
)  # fmt: skip


def _python(frame: pd.DataFrame, columns: CorpusColumns) -> pd.DataFrame:
    validated = validate_corpus(frame, columns, source="t")
    rows = normalized_corpus(
        validated, model=MODEL, task_type=TASK, output_dimensionality=DIMENSION
    )
    return rows[["id", "reason", "content_hash"]]


def _stage(stage: Stage, corpus: str | BigQueryQuery, columns: CorpusColumns):  # type: ignore[no-untyped-def]
    prefix = hash_prefix(model=MODEL, task_type=TASK, output_dimensionality=DIMENSION)
    staged, rows = stage(corpus, columns, hash_prefix=prefix)
    return staged, rows[["id", "reason", "content_hash"]]


def _by_row(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return sorted((str(i), str(r), str(h)) for i, r, h in frame.itertuples(index=False, name=None))


def test_text_ids_reasons_and_hashes_match_python(
    bigquery_emulator: BigQueryTestSpace, stage: Stage
) -> None:
    project = bigquery_emulator.project
    uri = write_bigquery_table(f"{bigquery_emulator.dataset('raw')}.docs", ROWS, project=project)
    columns = CorpusColumns(id_column="doc_id", text_column="body", title_column="title")
    staged, rows = _stage(stage, uri, columns)
    expected = _python(ROWS, columns)
    assert _by_row(rows.replace({pd.NA: None})) == _by_row(expected.replace({float("nan"): None}))
    assert staged.rows == len(ROWS)
    assert staged.rejected_by_reason == expected["reason"].value_counts().to_dict()


def test_integer_ids_stay_exact_and_a_query_is_a_corpus(
    bigquery_emulator: BigQueryTestSpace,
    stage: Stage,
) -> None:
    project, raw = bigquery_emulator.project, bigquery_emulator.dataset("raw")
    frame = pd.DataFrame({"id": [9007199254740993, 2, 3], "content": ["x", "y", "z"]})
    write_bigquery_table(f"{raw}.docs", frame, project=project)
    query = BigQueryQuery(
        sql=f"SELECT * FROM `{project}.{raw}.docs` WHERE id != 3", project=project
    )
    staged, rows = _stage(stage, query, CorpusColumns())
    assert sorted(rows["id"]) == ["2", "9007199254740993"]
    assert _by_row(rows) == _by_row(_python(frame.iloc[:2], CorpusColumns()))
    assert staged.rejected_by_reason == {}


def test_a_missing_column_or_table_is_one_line(
    bigquery_emulator: BigQueryTestSpace, stage: Stage
) -> None:
    project = bigquery_emulator.project
    uri = write_bigquery_table(f"{bigquery_emulator.dataset('raw')}.docs", ROWS, project=project)
    with pytest.raises(CorpusError, match="has no column 'text'; its columns are: doc_id, body"):
        _stage(stage, uri, CorpusColumns(id_column="doc_id", text_column="text"))
    with pytest.raises(CorpusError, match="cannot be read"):
        _stage(stage, uri + "_gone", CorpusColumns())
