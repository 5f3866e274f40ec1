"""A Parquet corpus prepared a batch of documents at a time gives the rows of the file read whole.

Real documents (module documentation) with every kind of bad row, in Parquet files of small
row groups, read in batches that cross and split them; the prepared file's rows, its counts
and version, and the prompts planned from it are compared with the frame prepared from the
whole file.
"""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embed_assets.corpus.batches as batches
from embed_assets import EmbeddingPipeline
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.prepared import PreparedCorpus, write_prepared
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusError
from tests.helpers import (
    VERTEX_MODEL,
    assert_same_rows,
    module_documentation,
    planned_against_an_empty_table,
)

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


def _prepared(pipeline: EmbeddingPipeline, path: Path, batch_rows: int) -> PreparedCorpus:
    return batches.prepare_parquet(
        path,
        output=path.with_name("prepared.parquet"),
        columns=pipeline.columns,
        source=str(path),
        chunking=pipeline.chunking,
        model=pipeline.resolved_model,
        task_type=pipeline.task_type,
        output_dimensionality=pipeline.output_dimensionality,
        batch_rows=batch_rows,
    )


@pytest.mark.parametrize("chunked", [True, False], ids=["chunks", "documents"])
@pytest.mark.parametrize(("group_rows", "batch_rows"), [(2, 1), (2, 3), (5, 4), (3, 100)])
def test_batches_of_documents_give_the_rows_of_the_file_read_whole(
    tmp_path: Path, group_rows: int, batch_rows: int, chunked: bool
) -> None:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pandas(_documents()), path, row_group_size=group_rows)
    pipeline = _pipeline(path, CHUNKING if chunked else None)
    whole = pipeline.prepare(read_corpus_file(str(path)))
    prepared = _prepared(pipeline, path, batch_rows)
    assert_same_rows(prepared.read(), whole)
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
    # the counts and the version are those of the whole frame written at once
    at_once = write_prepared(whole, tmp_path / "at-once.parquet")
    assert (prepared.rows, prepared.documents, prepared.chunked) == (
        len(whole),
        len(_documents()),
        chunked,
    )
    assert prepared.rejected_by_reason == at_once.rejected_by_reason
    assert prepared.rejected_by_reason == rejected["reason"].value_counts().to_dict()
    assert prepared.version == at_once.version
    assert prepared.rejected_examples["row"].tolist() == rejected["row"].head(5).tolist()
    # the prompts a refresh pays for are the same texts, read back from the prepared file
    ours = planned_against_an_empty_table(prepared, tmp_path / "ours").prompts
    theirs = planned_against_an_empty_table(whole, tmp_path / "theirs").prompts
    pd.testing.assert_frame_equal(ours, theirs)
    assert len(ours) == whole["content_hash"].nunique()
    # every document but doc-1 (twice: rejected), and the last note
    assert len(ours) > 3 * len(NAMES) if chunked else len(ours) == len(NAMES)


def test_the_version_is_the_rows_not_their_order(tmp_path: Path) -> None:
    """Rows in another order keep the version; another text, or one more row, changes it."""
    pipeline = _pipeline(tmp_path / "unused.parquet", None)
    rows = pipeline.prepare(_documents())

    def version(frame: pd.DataFrame, name: str) -> str:
        return write_prepared(frame.reset_index(drop=True), tmp_path / name).version

    first = version(rows, "a.parquet")
    assert version(rows.iloc[::-1], "b.parquet") == first
    changed = pipeline.prepare(
        _documents().assign(content=lambda f: f["content"].where(f.index != 3, "new"))
    )
    assert version(changed, "c.parquet") != first
    twice = pd.concat([rows, rows.iloc[:1]], ignore_index=True)  # an equal row does not cancel
    assert version(twice, "d.parquet") != first


def test_a_column_of_no_text_is_rejected_row_by_row_as_when_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "numbers.parquet"
    numbers = pd.DataFrame({"id": ["a", "b", "c"], "content": [1, 2, 3], "title": "t"})
    pq.write_table(pa.Table.from_pandas(numbers), path, row_group_size=1)
    pipeline = _pipeline(path)
    found = _prepared(pipeline, path, 1).read()
    whole = pipeline.prepare(read_corpus_file(str(path)))
    assert whole["content"].tolist() == [1, 2, 3]
    # what is not text is not kept: the rejected rows' content is empty in the prepared file
    assert_same_rows(found, whole.assign(content=None))
    assert set(found["reason"]) == {"content is not text"}


def test_an_empty_file_gives_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    schema = pa.schema([("id", pa.string()), ("content", pa.string()), ("title", pa.string())])
    pq.write_table(schema.empty_table(), path)
    pipeline = _pipeline(path)
    found = _prepared(pipeline, path, 4)
    assert (found.rows, found.documents, found.rejected_by_reason) == (0, 0, {})
    assert found.read().empty
    assert list(found.read().columns) == list(pipeline.prepare(read_corpus_file(str(path))).columns)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a Parquet file")
    with pytest.raises(CorpusError, match=r"cannot be parsed as Parquet") as raised:
        _pipeline(path).prepare_file(tmp_path / "prepared.parquet")
    assert "\n" not in str(raised.value)


def test_a_missing_column_names_the_columns_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"key": ["a"], "body": ["text"]}), path)
    with pytest.raises(CorpusError, match=r"has no column 'id'.*key, body"):
        _pipeline(path).prepare_file(tmp_path / "prepared.parquet")
