"""JSONL, CSV and upstream-frame corpora prepared a batch at a time give the whole-file rows.

Each source is prepared twice: read whole (`read_corpus_file`, then `prepare`) and a batch at
a time (`prepare_in_batches`, with batches small enough to split every kind of row apart);
the prepared rows are compared row by row, with their counts and version.
"""

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from embed_assets.corpus import jsonl
from embed_assets.corpus.jsonl import jsonl_batches, jsonl_frames
from embed_assets.corpus.prepared import PreparedCorpus
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusError
from tests.corpus.streaming import (
    CHUNKING,
    NBSP,
    assert_same_as_whole,
    corpus_pipeline,
    prepare_streamed,
)
from tests.helpers import assert_same_rows, module_documentation

pytestmark = pytest.mark.timeout(120)

# ids as a JSONL line writes them: leading zeros, past 2**53, float-looking, NBSP, unusable
JSONL_LINES = [
    '{"id": "007", "content": "leading zeros stay", "title": "Zeros"}',
    '{"id": 9007199254740993, "content": "2**53 + 1 stays exact"}',
    '{"id": 123456789012345678901234, "content": "past 64 bits, exact", "score": 0.5}',
    '{"id": "1.0", "content": "an id that looks like a float"}',
    '{"id": 1.5, "content": "a float id is refused"}',
    '{"id": "a' + NBSP + 'b", "content": "an id with NBSP"}',
    "",
    '{"id": "dup", "content": "first of a repeated id"}',
    '{"id": null, "content": "no id"}',
    '{"id": "blank", "content": "   "}',
    '{"id": "num", "content": 12}',
    '{"id": " ", "content": "a blank id"}',
    '{"id": "", "content": "an empty id"}',
    json.dumps({"id": "argparse", "content": module_documentation("argparse")}),
    '{"id": "dup", "content": "second of a repeated id, in another batch"}',
    json.dumps({"id": "json", "content": module_documentation("json"), "title": "JSON"}),
    '{"id": "late-key", "content": "a key only this line has", "extra": true}',
]
CSV_TEXT = (
    "id,content,title\n"
    "007,leading zeros stay,Zeros\n"
    "9007199254740993,2**53 + 1 stays exact,\n"
    "1.0,an id that looks like a float,\n"
    f"a{NBSP}b,an id with NBSP,\n"
    "dup,first of a repeated id,\n"
    ',"no id",\n'
    'blank,"   ",\n'
    f'textwrap,"{module_documentation("textwrap").replace(chr(34), chr(34) * 2)}",Textwrap\n'
    "dup,second of a repeated id,\n"
    'multi,"a text\nover two lines",\n'
)


def _document_ids(prepared: PreparedCorpus) -> list[str | None]:
    """Each source row's id as prepared (a chunk's id is its document's, then `#n`)."""
    rows = prepared.read().drop_duplicates("row")
    return [None if pd.isna(v) else str(v).rsplit("#", 1)[0] for v in rows["id"]]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize("batch_rows", [1, 3, 1000])
def test_a_jsonl_corpus_in_batches_gives_the_rows_read_whole(
    tmp_path: Path, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(JSONL_LINES) + "\n", encoding="utf-8")
    pipeline = corpus_pipeline(str(path), CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    streamed = prepare_streamed(pipeline, path, batch_rows)
    assert_same_as_whole(streamed, whole, tmp_path)
    assert _document_ids(streamed)[:6] == [
        "007",
        "9007199254740993",
        "123456789012345678901234",
        "1.0",
        None,
        f"a{NBSP}b",
    ]
    rows = streamed.read().drop_duplicates("row")
    assert rows["reason"].value_counts().to_dict() == {
        "duplicate id": 2,
        "missing id": 3,  # null, blank and empty
        "id is a number with a fraction": 1,
        "empty or whitespace-only content": 1,
        "content is not text": 1,
    }


@pytest.mark.parametrize("batch_lines", [1, 3, 1000])
def test_jsonl_batches_read_each_line_as_the_standard_library_does(
    tmp_path: Path, batch_lines: int
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(["", *JSONL_LINES, "  "]), encoding="utf-8")
    expected = [json.loads(line) for line in JSONL_LINES if line.strip()]
    batches = list(jsonl_batches(path, batch_lines=batch_lines))
    assert [record for batch in batches for record in batch] == expected
    assert all(0 < len(batch) <= batch_lines for batch in batches)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize("batch_rows", [2, 1000])
def test_a_jsonl_corpus_with_no_repeated_id_gives_the_rows_read_whole(
    tmp_path: Path, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [line for line in JSONL_LINES if '"dup"' not in line]
    path.write_text("\n".join(lines), encoding="utf-8")
    pipeline = corpus_pipeline(str(path), CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    streamed = prepare_streamed(pipeline, path, batch_rows)
    assert_same_as_whole(streamed, whole, tmp_path)
    assert "duplicate id" not in streamed.rejected_by_reason
    assert "123456789012345678901234" in _document_ids(streamed)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize("batch_rows", [1, 4])
def test_a_csv_corpus_in_batches_gives_the_rows_read_whole(
    tmp_path: Path, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    pipeline = corpus_pipeline(str(path), CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    streamed = prepare_streamed(pipeline, path, batch_rows)
    assert_same_as_whole(streamed, whole, tmp_path)
    assert _document_ids(streamed)[:4] == ["007", "9007199254740993", "1.0", f"a{NBSP}b"]


def test_an_upstream_frame_is_written_a_slice_at_a_time_with_the_rows_read_whole(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "a", None, "c"],
            "content": [module_documentation("csv"), "b", "again", "no id", "c"],
            "title": [None, "B", None, None, None],
        }
    )
    pipeline = corpus_pipeline("unused.jsonl", CHUNKING)
    whole = pipeline.prepare(frame)
    streamed = prepare_streamed(pipeline, None, 2, frame=frame, folder=tmp_path / "x")
    assert_same_as_whole(streamed, whole, tmp_path)


def test_an_invalid_line_in_the_middle_fails_the_file_in_one_line_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [*JSONL_LINES[:4], "{not json", *JSONL_LINES[4:]]
    path.write_text("\n".join(lines), encoding="utf-8")
    pipeline = corpus_pipeline(str(path), None)
    with pytest.raises(CorpusError) as whole:
        read_corpus_file(str(path))
    with pytest.raises(CorpusError) as streamed:
        prepare_streamed(pipeline, path, 2)
    assert str(streamed.value) == str(whole.value)
    assert "line 5 is not valid JSON" in str(streamed.value)
    assert not (tmp_path / "streamed.parquet").exists()


@pytest.mark.parametrize(
    ("data", "suffix", "message"),
    [
        (b"\xef\xbb\xbf" + b'{"id": "a", "content": "x"}\n', ".jsonl", "line 1"),
        (b'{"id": "a", "content": "caf\xe9"}\n', ".jsonl", "not utf-8"),
        (b"id,content,title\na,caf\xe9,t\n", ".csv", "not utf-8"),
        (b"", ".csv", "cannot be parsed as CSV"),
    ],
    ids=["bom", "latin-1-jsonl", "latin-1-csv", "empty-csv"],
)
def test_encodings_boms_and_empty_files_fail_as_when_read_whole(
    tmp_path: Path, data: bytes, suffix: str, message: str
) -> None:
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(data)
    pipeline = corpus_pipeline(str(path), None)
    with pytest.raises(CorpusError) as whole:
        pipeline.prepare(read_corpus_file(str(path)))
    with pytest.raises(CorpusError) as streamed:
        prepare_streamed(pipeline, path, 2)
    assert str(streamed.value) == str(whole.value)
    assert message in str(streamed.value)


def test_a_file_changed_after_preparation_leaves_the_prepared_texts_as_they_were(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(JSONL_LINES) + "\n", encoding="utf-8")
    pipeline = corpus_pipeline(str(path), CHUNKING)
    streamed = pipeline.prepare_file(tmp_path / "prepared.parquet")
    before = streamed.read()
    path.write_text('{"id": "007", "content": "another text"}\n', encoding="utf-8")
    after = streamed.read()
    assert_same_rows(after, before)  # the texts were copied into the prepared file, hashes and all
    assert "leading zeros stay" in after["content"].tolist()


def test_a_cloud_storage_corpus_is_downloaded_then_read_a_batch_at_a_time(
    vertex_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Through google-cloud-storage and fake-gcs-server: the rows of the local file."""
    from google.cloud import storage

    text = "\n".join(JSONL_LINES) + "\n"
    storage.Client(project="test").bucket("embed-assets").blob(
        "corpus/docs.jsonl"
    ).upload_from_string(text)
    local = tmp_path / "docs.jsonl"
    local.write_text(text, encoding="utf-8")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    remote = corpus_pipeline("gs://embed-assets/corpus/docs.jsonl", CHUNKING)
    streamed = remote.prepare_file(tmp_path / "remote.parquet")
    here = corpus_pipeline(str(local), CHUNKING).prepare_file(tmp_path / "local.parquet")
    assert_same_rows(streamed.read(), here.read())
    assert streamed.version == here.version
    assert not list(temporary.iterdir())  # the download went with its folder
    bad = "\n".join([JSONL_LINES[0], "{not json"]) + "\n"
    storage.Client(project="test").bucket("embed-assets").blob(
        "corpus/bad.jsonl"
    ).upload_from_string(bad)
    with pytest.raises(CorpusError) as refused:
        corpus_pipeline("gs://embed-assets/corpus/bad.jsonl", None).prepare_file(
            tmp_path / "bad.parquet"
        )
    assert str(refused.value).startswith("corpus file gs://embed-assets/corpus/bad.jsonl ")
    assert "line 2 is not valid JSON" in str(refused.value)


def _frames(path: Path, *, readers: int, batch_lines: int = 3) -> tuple[list[pd.DataFrame], list]:
    keys: dict[str, None] = {}
    frames = list(
        jsonl_frames(
            path,
            ["id", "content", "title"],
            encoding="utf-8",
            batch_lines=batch_lines,
            keys=keys,
            readers=readers,
        )
    )
    return frames, list(keys)


@pytest.mark.parametrize("readers", [1, 2, 3])
def test_reader_processes_give_the_frames_and_keys_parsed_here(
    tmp_path: Path, readers: int
) -> None:
    path = tmp_path / "corpus.jsonl"
    # a batch of blank lines (lines 7 to 9) gives no frame; the others come in the file's order
    lines = [*JSONL_LINES[:6], "", " ", "", *JSONL_LINES[6:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    here, here_keys = _frames(path, readers=0)
    apart, apart_keys = _frames(path, readers=readers)
    assert apart_keys == here_keys == ["id", "content", "title", "score"]
    assert len(apart) == len(here) > readers
    for mine, theirs in zip(apart, here, strict=True):
        pd.testing.assert_frame_equal(mine, theirs)


@pytest.mark.parametrize("readers", [1, 2])
def test_reader_processes_say_a_bad_line_as_parsing_here_does(tmp_path: Path, readers: int) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join([*JSONL_LINES[:4], "{not json", *JSONL_LINES[4:]]))
    with pytest.raises(CorpusError) as here:
        _frames(path, readers=0)
    with pytest.raises(CorpusError) as apart:
        _frames(path, readers=readers)
    assert str(apart.value) == str(here.value)
    assert "line 5 is not valid JSON" in str(apart.value)


def test_reader_processes_stop_when_their_caller_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    line = json.dumps({"id": "x", "content": module_documentation("json")})
    path.write_text("\n".join(line.replace('"x"', f'"{n}"') for n in range(20_000)))
    others = _children()  # a server another test started
    frames = jsonl_frames(
        path, ["id", "content"], encoding="utf-8", batch_lines=10, keys={}, readers=2
    )
    first = next(frames)
    assert list(first["id"]) == [str(n) for n in range(10)]
    readers = _children() - others
    assert len(readers) == 2
    frames.close()  # the caller failed, or was cancelled, after one batch
    assert _children() - others == set()
    assert not any(Path(f"/proc/{pid}").exists() for pid in readers)


def _children() -> set[int]:
    """This process's child processes, from /proc."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


def test_a_batch_of_long_lines_holds_fewer_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "BATCH_BYTES", 1_000)
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": str(n), "content": "word " * 60}) for n in range(40)]
    path.write_text("\n".join(lines))
    batches = list(jsonl_batches(path, batch_lines=100))
    assert [record for batch in batches for record in batch] == [json.loads(x) for x in lines]
    assert len(batches) >= 10
    assert max(len(batch) for batch in batches) <= 4  # lines of 320 bytes, about 1,000 bytes
