"""The prepared-corpus file keeps every accepted text, whatever else its source column held."""

from pathlib import Path

import pandas as pd
import pytest

from embed_assets import EmbeddingPipeline
from embed_assets.corpus.prepared import write_prepared
from tests.helpers import VERTEX_MODEL, long_documents, planned_against_an_empty_table

pytestmark = pytest.mark.timeout(60)


def test_texts_beside_numbers_in_one_column_are_kept_and_planned(tmp_path: Path) -> None:
    """A column of texts and numbers: the numbers' rows are rejected, the texts embedded."""
    raw = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "content": ["a first text", 5, None, "a second text"]}
    )
    rows = EmbeddingPipeline(name="docs", corpus=str(tmp_path), model=VERTEX_MODEL).prepare(raw)
    prepared = write_prepared(rows, tmp_path / "prepared.parquet")
    found = prepared.read()
    assert found["content"].tolist()[0] == "a first text"
    assert found["content"].tolist()[3] == "a second text"
    assert pd.isna(found["content"].tolist()[1])  # 5 is not kept as text
    assert prepared.rejected_by_reason == {"content is not text": 1, "missing content": 1}
    plan = planned_against_an_empty_table(prepared, tmp_path / "plan")
    assert sorted(plan.prompts["content"]) == ["a first text", "a second text"]
    assert plan.counts["submit"] == 2 and plan.counts["rejected"] == 2


def _parquet_corpus(path: Path, texts: list[str | None], *, title: str | None = None) -> Path:
    ids = [f"doc-{i}" for i in range(len(texts))]
    columns: dict[str, object] = {"id": ids, "body": texts}
    if title is not None:
        columns["heading"] = [title] * len(texts)
    pd.DataFrame(columns).to_parquet(path, row_group_size=2)
    return path


def _pipeline(source: Path, **options: object) -> EmbeddingPipeline:
    return EmbeddingPipeline(
        name="docs",
        corpus=str(source),
        model=VERTEX_MODEL,
        text_column="body",
        **options,  # type: ignore[arg-type]
    )


def test_a_parquet_corpus_leaves_its_texts_in_the_source_and_they_are_read_back_by_row(
    tmp_path: Path,
) -> None:
    """The prepared file holds no text; the prompts are the source's texts, with their titles."""
    import pyarrow.parquet as pq

    texts = ["first", "", "third", "first", "fifth"]
    source = _parquet_corpus(tmp_path / "corpus.parquet", texts, title="T")
    prepared = _pipeline(source, title_column="heading").prepare_file(tmp_path / "p.parquet")
    assert prepared.texts is not None and prepared.texts.path == str(source.resolve())
    assert pq.read_table(prepared.path, columns=["content"]).column(0).null_count == len(texts)
    assert prepared.read()["content"].tolist() == texts
    assert prepared.read(columns=["id", "content"])["content"].tolist() == texts
    plan = planned_against_an_empty_table(prepared, tmp_path / "plan")
    assert sorted(plan.prompts["content"]) == ["fifth", "first", "third"]
    assert set(plan.prompts["title"]) == {"T"}
    assert plan.counts == {"rejected": 1, "unchanged": 0, "reuse": 0, "submit": 4}


def test_a_source_changed_after_preparation_stops_the_plan_before_any_text_is_sent(
    tmp_path: Path,
) -> None:
    from embed_assets.errors import CorpusError

    source = _parquet_corpus(tmp_path / "corpus.parquet", ["one", "two", "three"])
    prepared = _pipeline(source).prepare_file(tmp_path / "p.parquet")
    _parquet_corpus(source, ["one", "TWO", "three"])
    with pytest.raises(CorpusError, match=r"changed since the corpus was prepared \(1 of the 3"):
        planned_against_an_empty_table(prepared, tmp_path / "plan")
    _parquet_corpus(source, ["one"])  # rows gone
    with pytest.raises(CorpusError, match=r"\(2 of the 3 texts to embed differ\)"):
        planned_against_an_empty_table(prepared, tmp_path / "plan-2")
    source.unlink()
    with pytest.raises(CorpusError, match=r"corpus.parquet cannot be read for the texts"):
        planned_against_an_empty_table(prepared, tmp_path / "plan-3")


def test_chunks_are_read_back_from_their_documents_by_character_offsets(tmp_path: Path) -> None:
    """Multi-byte and astral characters: the offsets are characters, as DuckDB's `substring`."""
    from embed_assets.corpus.chunking import Chunking

    documents = [f"{text} café 漢字 😀 ü" * 3 for text in long_documents(6, words=300)]
    source = _parquet_corpus(tmp_path / "corpus.parquet", [*documents, "   "])
    chunked = _pipeline(source, chunking=Chunking(max_tokens=60)).prepare_file(tmp_path / "c")
    assert chunked.texts is not None and chunked.chunked
    rows = chunked.read()
    chunks = rows[rows["chunk_start"].notna()]
    assert len(chunks) > 2 * len(documents)
    assert chunked.read(columns=["content"])["content"].tolist() == rows["content"].tolist()
    for row, start, end, text in zip(
        chunks["row"], chunks["chunk_start"], chunks["chunk_end"], chunks["content"], strict=True
    ):
        assert text == documents[row][start:end]
    plan = planned_against_an_empty_table(chunked, tmp_path / "plan")
    assert sorted(plan.prompts["content"]) == sorted(set(chunks["content"]))


def test_sources_read_whole_keep_their_texts_in_the_prepared_file(tmp_path: Path) -> None:
    source = _parquet_corpus(tmp_path / "corpus.parquet", ["one text", "another text"])
    lines = tmp_path / "corpus.jsonl"
    pd.read_parquet(source).to_json(lines, orient="records", lines=True)
    from_lines = _pipeline(lines).prepare_file(tmp_path / "j")
    assert from_lines.texts is None
    assert from_lines.read()["content"].tolist() == ["one text", "another text"]
    plan = planned_against_an_empty_table(from_lines, tmp_path / "plan")
    assert sorted(plan.prompts["content"]) == ["another text", "one text"]
