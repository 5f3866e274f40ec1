"""A Parquet corpus prepared a batch of documents at a time gives the rows of the file read whole.

Real documents (module documentation) with every kind of bad row, in Parquet files of small
row groups, read in batches that cross and split them; the chunk rows, their texts and the
prompts planned from them are compared with the frame prepared from the whole file.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embed_assets.corpus.batches as batches
from embed_assets import EmbeddingPipeline
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusError
from embed_assets.jobs.plan import plan_refresh
from embed_assets.store.base import no_stored_rows
from tests.helpers import VERTEX_MODEL, module_documentation

pytestmark = pytest.mark.timeout(120)

CHUNKING = Chunking(max_tokens=300)
NAMES = ["argparse", "json", "textwrap", "csv", "pathlib", "shutil", "string", "heapq"]


def _documents() -> pd.DataFrame:
    texts = [module_documentation(name) for name in NAMES]
    frame = pd.DataFrame(
        {
            "id": [f"doc-{i}" for i in range(len(texts))],
            "content": texts,
            "title": ["A title", None, "", "Título ✓", None, "A title", None, "Heaps"],
        }
    )
    extra = pd.DataFrame(
        {
            "id": ["doc-1", None, "blank", "gone", "last"],  # doc-1 again: in another batch
            "content": ["the same id again", "no id", "   \n ", None, "A short last note."],
            "title": [None, None, None, None, "Last"],
        }
    )
    return pd.concat([frame, extra], ignore_index=True)


def _pipeline(path: Path, chunking: Chunking | None = CHUNKING) -> EmbeddingPipeline:
    return EmbeddingPipeline(
        name="docs", corpus=str(path), model=VERTEX_MODEL, title_column="title", chunking=chunking
    )


def _prepared(pipeline: EmbeddingPipeline, path: Path, batch_rows: int) -> pd.DataFrame:
    return batches.prepare_parquet(
        path,
        columns=pipeline.columns,
        source=str(path),
        chunking=pipeline.chunking,
        model=pipeline.resolved_model,
        task_type=pipeline.task_type,
        output_dimensionality=pipeline.output_dimensionality,
        batch_rows=batch_rows,
    )


def _same(found: pd.DataFrame, whole: pd.DataFrame) -> None:
    as_objects = [
        frame.astype(object).map(lambda v: None if v is pd.NA or v is np.nan else v)
        for frame in (found, whole)
    ]
    pd.testing.assert_frame_equal(*as_objects)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize(("group_rows", "batch_rows"), [(2, 1), (2, 3), (5, 4), (3, 100)])
def test_batches_of_documents_give_the_rows_of_the_file_read_whole(
    tmp_path: Path, group_rows: int, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pandas(_documents()), path, row_group_size=group_rows)
    pipeline = _pipeline(path, CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    found = _prepared(pipeline, path, batch_rows)
    _same(found, whole)
    rejected = whole.loc[whole["reason"].notna()]
    # a missing id is null whichever way the column holds it (None, or NA in an Arrow column)
    ids = [None if pd.isna(value) else value for value in rejected["id"]]
    reasons = pd.Series(rejected["reason"].to_numpy(), index=ids)
    assert reasons.to_dict() == {
        "doc-1": "duplicate id",
        None: "missing id",
        "blank": "empty or whitespace-only content",
        "gone": "missing content",
    }
    assert (reasons == "duplicate id").sum() == 2  # both rows, though in different batches
    # the prompts a refresh pays for are the same texts, read back from the spilled texts
    ours = plan_refresh(found, no_stored_rows()).prompts
    theirs = plan_refresh(whole, no_stored_rows()).prompts
    pd.testing.assert_frame_equal(ours, theirs)
    assert len(ours) == whole["content_hash"].nunique()
    # every document but doc-1 (twice: rejected), and the last note
    assert len(ours) > 3 * len(NAMES) if chunked else len(ours) == len(NAMES)


def test_the_chunk_texts_wait_on_disk_and_no_file_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunk texts are a deleted, memory-mapped file: gone from the folder, still readable."""
    spills = tmp_path / "tmp"
    spills.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spills))
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pandas(_documents()), path, row_group_size=3)
    pipeline = _pipeline(path)
    found = pipeline.prepare_source()
    assert list(spills.iterdir()) == []
    with open("/proc/self/maps") as maps:
        mapped = [line for line in maps if "embed-assets-chunks-" in line]
    assert mapped and all(line.rstrip().endswith("(deleted)") for line in mapped)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    assert found["content"].tolist() == whole["content"].tolist()


def _mapped_kb(name: str) -> int:
    """KB of this process's resident pages of the mapped file whose path holds `name`."""
    with open("/proc/self/smaps") as smaps:
        lines = smaps.read().splitlines()
    total, inside = 0, False
    for line in lines:
        if "-" in line.split(" ", 1)[0]:  # a mapping's header line
            inside = name in line
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_texts_read_from_the_spill_file_give_their_pages_back(tmp_path: Path) -> None:
    """Reading every text maps the file's pages; `done_reading` gives them back, texts intact."""
    texts = [f"document {i}: " + "words of a text " * 40 for i in range(6000)]
    path = tmp_path / "corpus.parquet"
    ids = [f"d{i}" for i in range(6000)]
    pq.write_table(pa.table({"id": ids, "content": texts, "title": [None] * 6000}), path)
    found = _pipeline(path, None).prepare_source()
    chunks = pa.chunked_array(pa.array(found["content"])).chunks
    for chunk in chunks:
        batches.will_read(chunk, np.arange(len(chunk)))
    assert sum(len(t) for chunk in chunks for t in chunk.to_pylist()) > 3_000_000
    before = _mapped_kb("embed-assets-chunks-")
    assert before > 2_000  # the texts' pages are mapped
    for chunk in chunks:
        batches.done_reading(chunk)
    assert _mapped_kb("embed-assets-chunks-") < before / 4
    assert found["content"].tolist() == texts  # read again from the file


def test_texts_in_memory_are_left_as_they_are(tmp_path: Path) -> None:
    """Only a spill file's pages are given back: anonymous memory would lose its bytes."""
    texts = pa.array(["a text held in memory " * 20] * 2000)
    batches.done_reading(texts)
    assert texts.to_pylist() == ["a text held in memory " * 20] * 2000


def test_a_column_of_no_text_is_rejected_row_by_row_as_when_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "numbers.parquet"
    numbers = pd.DataFrame({"id": ["a", "b", "c"], "content": [1, 2, 3], "title": "t"})
    pq.write_table(pa.Table.from_pandas(numbers), path, row_group_size=1)
    pipeline = _pipeline(path)
    found = _prepared(pipeline, path, 1)
    _same(found, pipeline.prepare(read_corpus_file(str(path))))
    assert set(found["reason"]) == {"content is not text"}


def test_an_empty_file_gives_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    schema = pa.schema([("id", pa.string()), ("content", pa.string()), ("title", pa.string())])
    pq.write_table(schema.empty_table(), path)
    pipeline = _pipeline(path)
    found = _prepared(pipeline, path, 4)
    assert found.empty
    assert list(found.columns) == list(pipeline.prepare(read_corpus_file(str(path))).columns)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a Parquet file")
    with pytest.raises(CorpusError, match=r"cannot be parsed as Parquet") as raised:
        _pipeline(path).prepare_source()
    assert "\n" not in str(raised.value)


def test_a_missing_column_names_the_columns_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"key": ["a"], "body": ["text"]}), path)
    with pytest.raises(CorpusError, match=r"has no column 'id'.*key, body"):
        _pipeline(path).prepare_source()
