"""Documents, not rows: a chunking pipeline keeps one row per chunk, and edits pay what changed.

Real documents (module documentation), run through the whole pipeline on the local backend and
the Vertex emulator, with DuckDB and BigQuery tables; every table row is checked by id against
the chunks the rule makes of the current text, and every refresh's prompts are counted.
"""

import re

import pandas as pd
import pytest

from embed_assets import BigQueryEmbeddingStore, EmbeddingPipeline, LocalBatchBackend
from embed_assets.cli.runner import PipelineRunError, run_pipeline
from embed_assets.corpus.chunk_rows import chunk_documents
from embed_assets.corpus.chunking import Chunking
from embed_assets.testing.fixtures import BigQueryTestSpace
from tests.helpers import module_documentation, table

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline

CHUNKING = Chunking(max_tokens=300)
PLACES = ["document_id", "chunk_index", "chunk_start", "chunk_end"]


def _documents() -> pd.DataFrame:
    names = ["argparse", "json", "textwrap", "csv"]
    return pd.DataFrame(
        {
            "id": [*names, "note"],
            "content": [*(module_documentation(n) for n in names), "A short note that fits."],
        }
    )


def _expected(documents: pd.DataFrame, model: str) -> pd.DataFrame:
    chunks = chunk_documents(documents.assign(title=None), chunking=CHUNKING, model=model)
    # the chunk rows hold Arrow strings; the table gives Python str
    chunks = chunks.astype({"id": object, "document_id": object})
    return chunks.set_index("id")[PLACES].sort_index()


def _places(rows: pd.DataFrame) -> pd.DataFrame:
    found = rows.set_index("id")[PLACES].sort_index()
    return found.astype({"chunk_index": "int32", "chunk_start": "int64", "chunk_end": "int64"})


def _without_a_middle_paragraph(text: str) -> str:
    breaks = list(re.finditer(r"\n[ \t]*\n", text))
    first, second = breaks[len(breaks) // 2], breaks[len(breaks) // 2 + 1]
    return text[: first.end()] + text[second.end() :]


EDITS = [
    ("a word changed inside one paragraph", lambda t: t.replace("parser", "PARSER", 1)),
    ("a paragraph inserted at the top", lambda t: "A new first paragraph, written today.\n\n" + t),
    ("a paragraph deleted", _without_a_middle_paragraph),
    ("the end cut off", lambda t: t[: len(t) * 2 // 3]),
]


@pytest.mark.parametrize("backend_kind", ["local", "vertex"])
def test_chunk_rows_follow_every_edit_and_each_pays_for_what_changed(  # type: ignore[no-untyped-def]
    backend_kind, corpus_file, parquet_corpus_file, build, run
) -> None:
    """Locally from Parquet (read a batch of documents at a time), on Vertex from JSONL."""
    if backend_kind == "local":
        corpus_file = parquet_corpus_file
    documents = _documents()
    pipeline, defs = build(corpus_file(documents), chunking=CHUNKING)
    model = pipeline.resolved_model
    first = run(pipeline, defs)
    expected = _expected(documents, model)
    assert (first.failed, first.embedded) == (0, len(expected)), first.failed_examples
    pd.testing.assert_frame_equal(_places(table(defs, pipeline)), expected, check_names=False)
    assert run(pipeline, defs).prompts == 0  # nothing changed: nothing paid

    paid = {}
    for name, edit in EDITS:
        documents.loc[0, "content"] = edit(documents.loc[0, "content"])
        corpus_file(documents)
        summary = run(pipeline, defs)
        paid[name] = summary.prompts
        assert summary.failed == 0
        expected = _expected(documents, model)
        pd.testing.assert_frame_equal(_places(table(defs, pipeline)), expected, check_names=False)
    print(f"\nprompts paid per edit: {paid}")
    assert all(prompts <= 3 for prompts in paid.values()), paid

    corpus_file(documents[documents["id"] != "json"])  # a document leaves with all its chunks
    gone = run(pipeline, defs)
    assert gone.prompts == 0 and gone.deleted == int((expected["document_id"] == "json").sum())
    assert "json" not in set(table(defs, pipeline)["document_id"])


def test_switching_a_table_of_documents_to_chunks_builds_a_new_generation(  # type: ignore[no-untyped-def]
    corpus_file, build, run
) -> None:
    """Every id changes, so the chunks are built beside the documents, then replace them."""
    documents = _documents()
    path = corpus_file(documents)
    pipeline, defs = build(path)
    first = run(pipeline, defs)
    assert set(table(defs, pipeline)["id"]) == set(documents["id"])
    chunked, chunked_defs = build(path, chunking=CHUNKING)
    switched = run(chunked, chunked_defs)
    expected = _expected(documents, chunked.resolved_model)
    assert (switched.failed, switched.embedded) == (0, len(expected))
    assert switched.serving_model == f"{first.model} (chunks)" and switched.building_model is None
    pd.testing.assert_frame_equal(
        _places(table(chunked_defs, chunked)), expected, check_names=False
    )  # only chunks: the documents' rows went with their generation, none was deleted before
    assert run(chunked, chunked_defs).prompts == 0
    back = run(pipeline, defs)  # and back to whole documents, the same way
    assert back.serving_model == first.model and back.failed == 0
    assert set(table(defs, pipeline)["id"]) == set(documents["id"])


def test_a_bigquery_table_keeps_chunk_places_through_an_insert_at_the_top(  # type: ignore[no-untyped-def]
    bigquery_emulator: BigQueryTestSpace, corpus_file, tmp_path, instance
) -> None:
    documents = _documents().head(2)
    path = corpus_file(documents)
    pipeline = EmbeddingPipeline(
        name="docs", corpus=str(path), model="lexical-hash", chunking=CHUNKING
    )
    store = BigQueryEmbeddingStore(
        project=bigquery_emulator.project, dataset=bigquery_emulator.dataset("emb")
    )
    defs = pipeline.build_definitions(backend=LocalBatchBackend(workdir=str(tmp_path)), store=store)
    run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    documents.loc[0, "content"] = (
        "A new first paragraph, written today.\n\n" + documents.loc[0, "content"]
    )
    corpus_file(documents)
    summary = run_pipeline(defs=defs, pipeline=pipeline, instance=instance, poll_seconds=0.2)
    assert summary.prompts <= 3 and summary.failed == 0
    pd.testing.assert_frame_equal(
        _places(store.read("docs")), _expected(documents, "lexical-hash"), check_names=False
    )


def test_rejected_documents_count_against_documents_not_chunks(corpus_file, build, run) -> None:  # type: ignore[no-untyped-def]
    """2 empty documents of 10 are 20 % rejected, however many chunks the other 8 make."""
    documents = pd.concat([_documents()] * 2, ignore_index=True).head(10)
    documents["id"] = [f"doc-{i}" for i in range(10)]
    documents.loc[[3, 7], "content"] = "   "
    pipeline, defs = build(corpus_file(documents), chunking=CHUNKING)
    with pytest.raises(PipelineRunError, match=r"2 of 10 documents \(20.0%\) were rejected"):
        run(pipeline, defs)
    assert table(defs, pipeline).empty  # blocked before anything was submitted
