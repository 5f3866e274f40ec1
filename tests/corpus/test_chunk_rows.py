"""Documents into chunk rows on real prose: ids, offsets, limits, edits that cost what changed."""

import re

import pandas as pd
import pyarrow as pa
import pytest

from embed_assets import EmbeddingPipeline
from embed_assets.corpus import chunk_rows as chunks_module
from embed_assets.corpus.chunk_rows import chunk_documents
from embed_assets.corpus.chunking import Chunking, chunk_spans
from embed_assets.corpus.hashing import content_hashes
from embed_assets.errors import ConfigError
from embed_assets.models.registry import load_local_model, minilm_available
from embed_assets.models.tokens import default_chunk_tokens, token_counter
from tests.helpers import module_documentation

MODULES = ("argparse", "json", "textwrap", "pathlib", "logging", "csv")


@pytest.fixture(scope="module")
def documents() -> pd.DataFrame:
    """Six real documents (module documentation), one with a title, none edited."""
    return pd.DataFrame(
        {
            "id": list(MODULES),
            "content": [module_documentation(name) for name in MODULES],
            "title": [f"The {name} module" if name == "json" else None for name in MODULES],
        }
    )


def _hashes(chunks: pd.DataFrame, model: str) -> set[str]:
    return set(
        content_hashes(
            chunks["content"],
            chunks["title"],
            model=model,
            task_type=None,
            output_dimensionality=None,
        )
    )


def test_chunk_rows_say_where_in_the_document_they_are(documents: pd.DataFrame) -> None:
    chunks = chunk_documents(documents, chunking=Chunking(max_tokens=300), model="lexical-hash")
    assert chunks["id"].is_unique
    for doc_id, text in zip(documents["id"], documents["content"], strict=True):
        mine = chunks[chunks["document_id"] == doc_id]
        assert mine["id"].tolist() == [f"{doc_id}#{i}" for i in range(len(mine))]
        assert mine["chunk_index"].tolist() == list(range(len(mine)))
        assert [text[s:e] for s, e in zip(mine["chunk_start"], mine["chunk_end"], strict=True)] == (
            mine["content"].tolist()
        )
        # together they hold every non-space character of the document, in order
        assert re.sub(r"\s", "", "".join(mine["content"])) == re.sub(r"\s", "", text)
    assert set(chunks.loc[chunks["document_id"] == "json", "title"]) == {"The json module"}


@pytest.mark.parametrize("model", ["lexical-hash", "text-embedding-005", "gemini-embedding-001"])
def test_every_chunk_with_its_title_fits_the_model(documents: pd.DataFrame, model: str) -> None:
    chunks = chunk_documents(documents, chunking=Chunking(), model=model)
    count = token_counter(model)
    limit = default_chunk_tokens(model)
    sizes = [
        count(f"{title} {text}" if title else text)
        for text, title in zip(chunks["content"], chunks["title"], strict=True)
    ]
    assert max(sizes) <= limit
    assert len(chunks) > len(documents)  # the long ones were split


@pytest.mark.skipif(not minilm_available(), reason="needs the local extra")
def test_minilm_chunks_are_within_its_256_word_pieces(
    documents: pd.DataFrame,
) -> None:
    """The model's own count of what it is sent (title, newline, chunk) fits its 256."""
    json_docs = documents[documents["id"] == "json"]  # with a title
    chunks = chunk_documents(json_docs, chunking=Chunking(), model="all-MiniLM-L6-v2")
    model = load_local_model("all-MiniLM-L6-v2")
    sent = [
        f"{title}\n{text}" for title, text in zip(chunks["title"], chunks["content"], strict=True)
    ]
    assert int(model.count_tokens(sent).max()) <= model.max_input_tokens == 256


def test_overlap_repeats_the_end_of_the_previous_chunk_at_a_space(documents: pd.DataFrame) -> None:
    chunks = chunk_documents(
        documents.head(1),
        chunking=Chunking(max_tokens=200, overlap_tokens=20),
        model="lexical-hash",
    )
    count = token_counter("lexical-hash")
    text = documents.loc[0, "content"]
    for previous, chunk in zip(chunks.itertuples(), chunks.iloc[1:].itertuples(), strict=False):
        assert chunk.chunk_start <= previous.chunk_end
        assert chunk.chunk_start == previous.chunk_end or text[chunk.chunk_start - 1] == " "
        assert count(text[chunk.chunk_start : previous.chunk_end]) <= 20
        assert count(chunk.content) <= 200


def _edited(documents: pd.DataFrame, doc: str, edit) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    changed = documents.copy()
    row = changed.index[changed["id"] == doc][0]
    changed.loc[row, "content"] = edit(changed.loc[row, "content"])
    return changed


def _without_a_middle_paragraph(text: str) -> str:
    """The text less the paragraph between its two middle paragraph breaks, nothing else."""
    breaks = list(re.finditer(r"\n[ \t]*\n", text))
    first, second = breaks[len(breaks) // 2], breaks[len(breaks) // 2 + 1]
    return text[: first.end()] + text[second.end() :]


EDITS = {
    "a word changed inside one paragraph": lambda t: t.replace("parser", "PARSER", 1),
    "a paragraph inserted at the top": lambda t: "A new first paragraph, written today.\n\n" + t,
    "a paragraph deleted": _without_a_middle_paragraph,
    "the end cut off": lambda t: t[: len(t) * 2 // 3],
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_an_edit_costs_at_most_three_new_chunks(documents: pd.DataFrame, edit: str) -> None:
    """New chunk texts are the prompts a refresh pays for; the rest keep their vectors."""
    chunking = Chunking(max_tokens=300)
    before = chunk_documents(documents, chunking=chunking, model="lexical-hash")
    after = chunk_documents(
        _edited(documents, "argparse", EDITS[edit]), chunking=chunking, model="lexical-hash"
    )
    new = _hashes(after, "lexical-hash") - _hashes(before, "lexical-hash")
    assert len(new) <= 3, f"{edit}: {len(new)} new chunks"
    if edit == "the end cut off":  # the surplus chunks go with the ids past the new end
        kept = after[after["document_id"] == "argparse"]
        was = before[before["document_id"] == "argparse"]
        assert len(kept) < len(was)


def test_no_change_costs_nothing_and_parallel_chunking_matches(documents: pd.DataFrame) -> None:
    many = pd.concat(
        [documents.assign(id=documents["id"] + f"-{n}") for n in range(4)], ignore_index=True
    )
    here = chunk_documents(many, chunking=Chunking(max_tokens=300), model="lexical-hash", workers=1)
    again = chunk_documents(
        many, chunking=Chunking(max_tokens=300), model="lexical-hash", workers=2
    )
    pd.testing.assert_frame_equal(here, again)
    assert not _hashes(again, "lexical-hash") - _hashes(here, "lexical-hash")  # nothing to pay


def test_a_limit_above_what_the_model_reads_is_refused(documents: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="max_tokens=5000 is more than text-embedding-005 reads"):
        chunk_documents(documents, chunking=Chunking(max_tokens=5000), model="text-embedding-005")


def test_chunk_rows_are_the_same_whatever_the_arrow_layout_and_the_threads(
    documents: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts read in place from Arrow chunks of any size, cut by several threads in small
    batches, give the chunks each text gives alone; rejected documents give none."""
    texts = [
        *documents["content"],
        "Ünïcödé façade. 日本語のテキストです。\n\n" * 40,
        "",
        "   ",
        "short",
    ]
    raw = pd.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "content": texts})
    pieces = [pa.array(texts[a:b], pa.string()) for a, b in ((0, 2), (2, 3), (3, len(texts)))]
    arrow = raw.assign(
        content=pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(pieces)), copy=False)
    )
    pipeline = EmbeddingPipeline(
        name="docs", corpus=lambda: raw, model="text-embedding-005", chunking=Chunking()
    )
    monkeypatch.setattr(chunks_module, "THREAD_BYTES", 20_000)  # many batches per thread
    found = pipeline.prepare(arrow)
    budget = default_chunk_tokens("text-embedding-005")
    for index, text in enumerate(texts):
        rows = found[found["row"] == index]
        if not text.strip():
            assert list(rows["reason"].notna()) == [True]  # rejected, with its reason
            continue
        spans = chunk_spans(text, max_tokens=budget)
        assert list(zip(rows["chunk_start"], rows["chunk_end"], strict=True)) == [
            (s.start, s.end) for s in spans
        ]
        assert list(rows["content"]) == [text[s.start : s.end] for s in spans]
        assert list(rows["id"]) == [f"d{index}#{i}" for i in range(len(spans))]


def test_a_document_whose_content_is_not_text_is_rejected_and_the_others_chunked() -> None:
    """A number or a list where a text belongs is one rejected row; it does not stop the rest."""
    text = "A sentence of prose. " * 400
    raw = pd.DataFrame({"id": ["a", "b", "c"], "content": [text, 42, ["x"]]})
    pipeline = EmbeddingPipeline(
        name="docs",
        corpus=lambda: raw,
        model="text-embedding-005",
        chunking=Chunking(max_tokens=100),
        max_rejected_fraction=1.0,
    )
    found = pipeline.prepare(raw)
    rejected = found[found["reason"].notna()]
    assert list(rejected["id"]) == ["b", "c"]
    chunks = found[found["reason"].isna()]
    spans = chunk_spans(text, max_tokens=100)
    assert list(chunks["content"]) == [text[s.start : s.end] for s in spans]
    assert chunks["title"].map(lambda t: t is None).all()  # None, not NaN or NA
