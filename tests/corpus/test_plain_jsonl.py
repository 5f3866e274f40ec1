"""A JSONL file of text values is parsed by DuckDB into the values the exact reader gives.

Anything else (a `null` line, a number where text is read, a key given twice, a bad line) makes
the DuckDB reader step aside before a row is kept, and the file is read exactly: the prepared
rows, or the error, are the whole-file reader's.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from embed_assets.corpus.jsonl import jsonl_frames
from embed_assets.corpus.plain_jsonl import NotPlain, may_be_plain, plain_frames
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusError
from tests.corpus.streaming import (
    CHUNKING,
    NBSP,
    assert_same_as_whole,
    corpus_pipeline,
    prepare_streamed,
)
from tests.helpers import module_documentation

pytestmark = pytest.mark.timeout(120)

NAMES = ["id", "content", "title"]
# text and integer ids as lines write them, escapes, blank lines, a key only some lines have
PLAIN_LINES = [
    '{"id": "007", "content": "leading zeros stay", "title": "Zeros"}',
    '{"id": 9007199254740993, "content": "2**53 + 1 stays exact"}',
    '{"id": 18446744073709551615, "content": "the largest 64-bit integer", "score": 0.5}',
    '{"id": -0, "content": "minus zero is zero"}',
    '{"id": -5, "content": "a negative id"}',
    '{"id": "1.0", "content": "an id that looks like a float"}',
    '{"id": "a' + NBSP + 'b", "content": "an id with NBSP"}',
    "",
    "   ",
    '{"id": "dup", "content": "first of a repeated id"}',
    '{"id": null, "content": "no id"}',
    '{"content": "no id key"}',
    '{"id": "no-content"}',
    '{"id": "null-content", "content": null}',
    '{"id": "blank", "content": "   "}',
    '{"id": " ", "content": "a blank id"}',
    '{"id": "", "content": "an empty id"}',
    '{"id": "escapes", "content": "tab\\t, quote \\", emoji \\ud83d\\ude00, nul \\u0000 end"}',
    json.dumps({"id": "argparse", "content": module_documentation("argparse")}),
    '{"id": "dup", "content": "second of a repeated id, in another batch"}',
    json.dumps({"id": "json", "content": module_documentation("json"), "title": "JSON"}),
    '{"id": "late-key", "content": "a key only this line has", "extra": [1, {"a": null}]}',
]


def _values(frames: list[pd.DataFrame]) -> dict[str, list[object]]:
    """Each column's values across the batches, as Python objects (None where missing)."""
    return {
        name: [
            None if value is None or value is pd.NA else value
            for frame in frames
            for value in frame[name].tolist()
        ]
        for name in NAMES
    }


@pytest.mark.parametrize("batch_rows", [1, 3, 1000])
def test_a_file_of_text_values_is_read_by_duckdb_as_the_exact_reader_reads_it(
    tmp_path: Path, batch_rows: int
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(PLAIN_LINES) + "\n", encoding="utf-8")
    assert may_be_plain(path, "utf-8")
    plain = list(plain_frames(path, NAMES, id_column="id", batch_rows=batch_rows))
    exact = list(
        jsonl_frames(path, NAMES, encoding="utf-8", batch_lines=batch_rows, keys={}, readers=0)
    )
    found, expected = _values(plain), _values(exact)
    assert found == expected
    assert [type(v) for v in found["id"][:5]] == [str, int, int, int, int]  # as the lines wrote
    assert found["id"][:5] == ["007", 9007199254740993, 18446744073709551615, 0, -5]
    assert "emoji \U0001f600, nul \x00 end" in found["content"][found["id"].index("escapes")]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize("batch_rows", [2, 1000])
def test_a_file_of_text_values_prepares_the_rows_read_whole(
    tmp_path: Path, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(PLAIN_LINES), encoding="utf-8")
    pipeline = corpus_pipeline(str(path), CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    assert_same_as_whole(prepare_streamed(pipeline, path, batch_rows), whole, tmp_path)


ODD_LINES = {
    "null-line": "null",
    "float-id": '{"id": 1.5, "content": "a float id is refused"}',
    "id-past-64-bits": '{"id": 123456789012345678901234, "content": "exact"}',
    "number-content": '{"id": "n", "content": 12}',
    "object-content": '{"id": "o", "content": {"text": "x"}}',
    "key-twice": '{"id": "first", "id": "second", "content": "the last one counts"}',
    "empty-object": "{}",
    "bad-line": "{not json",
    "array-line": "[1, 2]",
}


@pytest.mark.parametrize("line", ODD_LINES.values(), ids=ODD_LINES.keys())
def test_a_line_duckdb_reads_otherwise_sends_the_file_to_the_exact_reader(
    tmp_path: Path, line: str
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join([*PLAIN_LINES[:6], line, *PLAIN_LINES[6:]]), encoding="utf-8")
    with pytest.raises(NotPlain):
        list(plain_frames(path, NAMES, id_column="id", batch_rows=4))
    pipeline = corpus_pipeline(str(path), None)
    try:
        whole = pipeline.prepare(read_corpus_file(str(path)))
    except CorpusError as error:
        with pytest.raises(CorpusError) as streamed:
            prepare_streamed(pipeline, path, 4)
        assert str(streamed.value) == str(error)
        assert "line 7 is not" in str(error)
        return
    assert_same_as_whole(prepare_streamed(pipeline, path, 4), whole, tmp_path)


def test_a_column_no_line_gives_sends_the_file_to_the_exact_reader(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"id": "a", "content": "x"}\n{"id": "b", "content": "y"}\n')
    with pytest.raises(NotPlain):
        list(plain_frames(path, NAMES, id_column="id", batch_rows=4))
    with pytest.raises(CorpusError, match="has no column 'title'; its columns are: id, content"):
        prepare_streamed(corpus_pipeline(str(path), None), path, 4)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [(b'\xef\xbb\xbf{"id": "a", "content": "x"}\n', "utf-8"), (b'{"id": "a"}\n', "latin-1")],
    ids=["byte-order-mark", "latin-1"],
)
def test_a_byte_order_mark_or_another_encoding_is_read_exactly(
    tmp_path: Path, data: bytes, encoding: str
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(data)
    assert not may_be_plain(path, encoding)
