"""BigQuery-shaped prediction rows: `content | ... | predictions` (a JSON string) `| status`."""

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from embed_assets.bigquery.client import bigquery_client, load_arrow
from embed_assets.predictions.bigquery_table import parse_prediction_rows
from embed_assets.predictions.lines import parse_prediction_lines
from embed_assets.predictions.readers import read_prediction_file, read_predictions
from embed_assets.testing.fixtures import BigQueryTestSpace


def _predictions(values: list[float], *, key: str = "values", tokens: int = 3) -> str:
    stats = {"token_count": tokens, "truncated": False}
    return orjson.dumps([{"embeddings": {"statistics": stats, key: values}}]).decode()


ROWS: list[dict[str, Any]] = [
    {"content": "a", "title": "T", "task_type": "RETRIEVAL_DOCUMENT", "key": "h-a",
     "predictions": _predictions([1.0, 2.0]), "status": ""},
    {"content": "b", "title": None, "task_type": "RETRIEVAL_DOCUMENT", "key": "h-b",
     "predictions": _predictions([3.0, 4.0], key="Values", tokens=5), "status": ""},
    {"content": "c", "title": None, "task_type": "RETRIEVAL_DOCUMENT", "key": "h-c",
     "predictions": "[]", "status": "3: the text is not allowed"},
]  # fmt: skip


def _arrow(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in rows[0]})


def _check(batch: Any) -> None:
    assert batch.contents == ["a", "b", "c"]
    assert batch.keys == ["h-a", "h-b", "h-c"]
    assert batch.titles == ["T", None, None]
    assert batch.task_types == ["RETRIEVAL_DOCUMENT"] * 3
    assert batch.vectors.dtype == np.float32
    assert batch.vectors.tolist() == [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]
    assert batch.token_counts.tolist() == [3, 5, 0]
    assert batch.statuses == ["", "", "3: the text is not allowed"]


def test_rows_parse_in_duckdb_with_values_or_capital_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the line parser was used")

    monkeypatch.setattr("embed_assets.predictions.bigquery_table.parse_prediction_lines", refuse)
    _check(parse_prediction_rows(_arrow(ROWS)))


def test_rows_the_typed_read_cannot_take_go_through_the_line_parser() -> None:
    broken = [*ROWS, {**ROWS[0], "content": "d", "key": "h-d", "predictions": "[{not json"}]
    batch = parse_prediction_rows(_arrow(broken), lenient=True)
    assert batch.contents == ["a", "b", "c"]  # the unreadable row is named, not guessed
    assert batch.unreadable and "not valid JSON" in batch.unreadable[0]
    with pytest.raises(ValueError, match="line 4 is not valid JSON"):
        parse_prediction_rows(_arrow(broken))


def test_bigquery_rows_exported_as_jsonl_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in ROWS) + b"\n")
    _check(read_prediction_file(path))
    _check(parse_prediction_lines(orjson.dumps(r) for r in ROWS))


def test_read_predictions_reads_a_bigquery_prediction_table(
    bigquery_emulator: BigQueryTestSpace,
) -> None:
    project, dataset = bigquery_emulator.project, bigquery_emulator.dataset("out")
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{dataset}")
        load_arrow(client, f"{project}.{dataset}.predictions", _arrow(ROWS))
    frame = read_predictions(f"bq://{project}.{dataset}.predictions")
    frame = frame.sort_values("content", ignore_index=True)
    assert frame["key"].tolist() == ["h-a", "h-b", "h-c"]
    assert [None if v is None else v.tolist() for v in frame["embedding"]] == [
        [1.0, 2.0],
        [3.0, 4.0],
        None,
    ]
    assert frame["status"].tolist() == ["", "", "3: the text is not allowed"]
