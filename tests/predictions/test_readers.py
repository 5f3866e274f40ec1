"""The DuckDB reader of whole prediction files agrees with the line parser on every input."""

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from embed_assets.predictions.lines import PredictionBatch, parse_prediction_lines
from embed_assets.predictions.readers import read_prediction_file


def _legacy(content: str, values: list[float] | None, status: Any = "", **extra: Any) -> bytes:
    predictions = (
        [
            {
                "embeddings": {
                    "statistics": {"token_count": len(content), "truncated": False},
                    "values": values,
                }
            }
        ]
        if values is not None
        else []
    )
    line = {"instance": {"content": content, **extra}, "predictions": predictions}
    return orjson.dumps({**line, "status": status})


def _gemini(key: str, values: list[float] | None, status: str = "") -> bytes:
    line: dict[str, Any] = {
        "key": key,
        "request": {
            "content": {"parts": [{"text": key}, {"text": "!"}]},
            "embed_content_config": {"task_type": "RETRIEVAL_DOCUMENT", "title": "T"},
        },
    }
    if values is not None:
        line["response"] = {
            "embedding": {"values": values},
            "usageMetadata": {"promptTokenCount": 5},
        }
    if status:
        line["status"] = status
    return orjson.dumps(line)


def _write(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def line_parser_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes the fallback fail, so a test proves DuckDB read the whole file."""

    def refuse(lines: object) -> PredictionBatch:
        raise AssertionError("the line parser was used")

    monkeypatch.setattr("embed_assets.predictions.readers.parse_prediction_lines", refuse)


def _assert_same(fast: PredictionBatch, slow: PredictionBatch) -> None:
    assert fast.keys == slow.keys
    assert fast.contents == slow.contents
    assert fast.titles == slow.titles
    assert fast.task_types == slow.task_types
    assert fast.statuses == slow.statuses
    assert fast.vectors.dtype == np.float32
    np.testing.assert_array_equal(fast.vectors, slow.vectors)
    np.testing.assert_array_equal(fast.token_counts, slow.token_counts)
    np.testing.assert_array_equal(fast.truncated, slow.truncated)


@pytest.mark.usefixtures("line_parser_forbidden")
def test_legacy_file_with_failures_matches_the_line_parser(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = [
        _legacy(f"doc {i}", rng.standard_normal(8).astype(np.float32).tolist()) for i in range(50)
    ]
    lines[3] = _legacy("doc 3", None, status="INVALID_ARGUMENT: too long")
    lines[7] = _legacy("doc 7", None, status={"code": 3, "message": "bad text"})
    lines[9] = _legacy("doc 9", [0.5] * 8, title="A title", task_type="RETRIEVAL_DOCUMENT")
    path = _write(tmp_path, lines)

    fast = read_prediction_file(path)

    _assert_same(fast, parse_prediction_lines(path.read_bytes().splitlines()))
    assert fast.statuses[3] == "INVALID_ARGUMENT: too long"
    assert fast.statuses[7] == "3: bad text"
    assert fast.ok.sum() == 48
    assert not fast.vectors[3].any()


@pytest.mark.usefixtures("line_parser_forbidden")
def test_gemini_file_matches_the_line_parser(tmp_path: Path) -> None:
    lines = [_gemini(f"k{i}", [float(i), 1.0, 2.0]) for i in range(10)]
    lines[4] = _gemini("k4", None, status="RESOURCE_EXHAUSTED")
    path = _write(tmp_path, lines)

    fast = read_prediction_file(path)

    _assert_same(fast, parse_prediction_lines(path.read_bytes().splitlines()))
    assert fast.keys[0] == "k0" and fast.contents[0] == "k0!"
    assert fast.token_counts[0] == 5


def test_unusual_lines_are_read_by_the_line_parser(tmp_path: Path) -> None:
    # "Values" with a capital V, and predictions as a JSON string (BigQuery output)
    capital = orjson.dumps(
        {"instance": {"content": "a"}, "predictions": [{"embeddings": {"Values": [1.0, 2.0]}}]}
    )
    as_string = orjson.dumps(
        {
            "instance": {"content": "b"},
            "predictions": orjson.dumps([{"embeddings": {"values": [3.0, 4.0]}}]).decode(),
        }
    )
    path = _write(tmp_path, [capital, as_string])

    batch = read_prediction_file(path)

    assert batch.vectors.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert batch.statuses == ["", ""]


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [_legacy("a", [1.0]), b'{"instance": {"content": "b"'])

    with pytest.raises(ValueError, match="prediction line 2 is not valid JSON"):
        read_prediction_file(path)


def test_vectors_of_different_lengths_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, [_legacy("a", [1.0, 2.0]), _legacy("b", [1.0, 2.0, 3.0])])

    with pytest.raises(ValueError, match="prediction line 2 has a 3-d vector, earlier ones 2-d"):
        read_prediction_file(path)


def test_an_empty_file_is_an_empty_batch(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    batch = read_prediction_file(path)

    assert len(batch) == 0 and batch.vectors.shape == (0, 0)


def test_a_lenient_read_skips_an_unreadable_line_and_fails_a_wrong_length(tmp_path: Path) -> None:
    """Landing's reading: the other lines survive; a cut line is named; a 3-d vector fails."""
    path = _write(
        tmp_path,
        [_legacy("a", [1.0, 2.0]), _legacy("b", [1.0, 2.0, 3.0]), b'{"instance": {"content": "c"'],
    )

    batch = read_prediction_file(path, lenient=True)

    assert batch.contents == ["a", "b"]
    assert batch.statuses[0] == "" and "3 values" in batch.statuses[1]
    assert len(batch.unreadable) == 1
    assert batch.unreadable[0].startswith("line 3 is not valid JSON")


def test_gemini_lines_as_the_service_writes_them(tmp_path: Path) -> None:
    """`response.tokenCount` is an int64 string, a key may come back as a number, a failed row
    carries status text and no response: both readers agree."""
    lines = [
        orjson.dumps(
            {
                "key": "h1",
                "request": {"content": {"parts": [{"text": "a"}]}},
                "response": {"tokenCount": "2", "embedding": {"values": [0.1, 0.2]}},
            }
        ),
        orjson.dumps(
            {
                "key": 7,
                "request": {"content": {"parts": [{"text": "b"}]}},
                "status": 'Bad Request: {"error": {"code": 400}}',
                "processed_time": "2026-11-01T00:00:00.000Z",
            }
        ),
    ]
    path = _write(tmp_path, lines)
    for batch in (read_prediction_file(path), parse_prediction_lines(lines)):
        assert batch.keys == ["h1", "7"]
        assert batch.token_counts.tolist() == [2, 0]
        assert batch.statuses[0] == "" and batch.statuses[1].startswith("Bad Request")
