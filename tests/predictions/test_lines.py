"""Request and prediction lines in both schemas, and `read_predictions`."""

from pathlib import Path

import numpy as np
import orjson

from embed_assets import read_predictions
from embed_assets.predictions.lines import (
    Prompt,
    RequestSchema,
    parse_prediction_lines,
    parse_request_line,
    request_line,
)


def test_legacy_request_line_has_content_task_type_and_title() -> None:
    line = request_line(
        Prompt(key="k", content="hello", title="T"),
        schema=RequestSchema.LEGACY,
        task_type="RETRIEVAL_DOCUMENT",
    )
    assert orjson.loads(line) == {
        "content": "hello",
        "task_type": "RETRIEVAL_DOCUMENT",
        "title": "T",
    }
    assert line.endswith(b"\n")


def test_gemini_request_line_carries_key_and_config() -> None:
    line = request_line(
        Prompt(key="abc", content="hello"),
        schema=RequestSchema.GEMINI,
        task_type="RETRIEVAL_DOCUMENT",
        output_dimensionality=256,
        auto_truncate=False,
    )
    data = orjson.loads(line)
    assert data["key"] == "abc"
    assert data["request"]["content"]["parts"] == [{"text": "hello"}]
    assert data["request"]["embed_content_config"] == {
        "task_type": "RETRIEVAL_DOCUMENT",
        "output_dimensionality": 256,
        "auto_truncate": False,
    }
    prompt, task_type, dims, auto_truncate = parse_request_line(line)
    assert (prompt.key, prompt.content, task_type, dims, auto_truncate) == (
        "abc",
        "hello",
        "RETRIEVAL_DOCUMENT",
        256,
        False,
    )


def test_the_service_s_gemini_output_reads_token_count_strings_and_status_text() -> None:
    lines = [
        orjson.dumps(
            {
                "key": "a",
                "request": {"content": {"parts": [{"text": "x"}]}},
                "response": {"embedding": {"values": [0.6, 0.8]}, "tokenCount": "7"},
            }
        ),
        orjson.dumps(
            {"key": "b", "request": {"content": {"parts": [{"text": "y"}]}}, "status": "bad"}
        ),
    ]
    batch = parse_prediction_lines(lines)
    assert batch.token_counts.tolist() == [7, 0]
    assert batch.statuses == ["", "bad"]


def test_an_errors_table_row_gives_its_reason() -> None:
    row = {"content": "x", "key": "h", "errors": {"code": 3, "message": "input too long"}}
    batch = parse_prediction_lines([orjson.dumps(row)])
    assert (batch.keys, batch.contents, batch.statuses) == (["h"], ["x"], ["3: input too long"])


def test_legacy_prediction_lines_parse_vectors_statistics_and_failures() -> None:
    lines = [
        orjson.dumps(
            {
                "instance": {"content": "a"},
                "predictions": [
                    {
                        "embeddings": {
                            "statistics": {"token_count": 8, "truncated": False},
                            "values": [0.5, 0.25],
                        }
                    }
                ],
                "status": "",
            }
        ),
        orjson.dumps({"instance": {"content": "b"}, "predictions": [], "status": "3: too long"}),
        orjson.dumps(
            {
                "instance": {"content": "c"},
                "predictions": orjson.dumps(
                    [
                        {
                            "embeddings": {
                                "statistics": {"token_count": 3, "truncated": True},
                                "Values": [1.0, 0.0],
                            }
                        }
                    ]
                ).decode(),
                "status": "",
            }
        ),
    ]
    batch = parse_prediction_lines(lines)
    assert batch.contents == ["a", "b", "c"]
    assert batch.vectors.dtype == np.float32
    assert batch.vectors.tolist() == [[0.5, 0.25], [0.0, 0.0], [1.0, 0.0]]
    assert batch.ok.tolist() == [True, False, True]
    assert batch.statuses[1] == "3: too long"
    assert batch.token_counts.tolist() == [8, 0, 3]
    assert batch.truncated.tolist() == [False, False, True]


def test_gemini_prediction_lines_echo_the_key() -> None:
    lines = [
        orjson.dumps(
            {
                "key": "h1",
                "request": {"content": {"parts": [{"text": "x"}]}},
                "response": {"embedding": {"values": [0.1, 0.2, 0.3]}},
            }
        ),
        orjson.dumps(
            {
                "key": "h2",
                "request": {"content": {"parts": [{"text": "y"}]}},
                "status": {"code": 3, "message": "bad"},
            }
        ),
    ]
    batch = parse_prediction_lines(lines)
    assert batch.keys == ["h1", "h2"]
    assert batch.statuses == ["", "3: bad"]
    assert batch.vectors.shape == (2, 3)


def test_read_predictions_reads_every_jsonl_file_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "prediction-model-2026-01-01T00:00:00.000000Z"
    folder.mkdir()
    for part in range(2):
        (folder / f"predictions_{part:05d}.jsonl").write_bytes(
            b"".join(
                orjson.dumps(
                    {
                        "instance": {"content": f"t{part}{i}"},
                        "predictions": [
                            {
                                "embeddings": {
                                    "statistics": {"token_count": 2, "truncated": False},
                                    "values": [float(i), 1.0],
                                }
                            }
                        ],
                        "status": "",
                    }
                )
                + b"\n"
                for i in range(3)
            )
        )
    (folder / "ignored.txt").write_text("not a prediction")
    frame = read_predictions(folder)
    assert len(frame) == 6
    assert set(frame.columns) >= {"content", "embedding", "token_count", "truncated", "status"}
    assert frame["embedding"].iloc[0].dtype == np.float32
    assert sorted(frame["content"]) == ["t00", "t01", "t02", "t10", "t11", "t12"]


def test_read_predictions_of_a_missing_path_says_so(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(FileNotFoundError, match="no prediction file or folder"):
        read_predictions(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
