"""Documents into chunk rows: ids, places in the document, texts, on every core.

With `EmbeddingPipeline(chunking=...)` each accepted document becomes the chunks
`corpus.chunking.chunk_spans` cuts it into, within the model's input limit as
`models.tokens.token_counter` counts it, the title (which goes with every chunk) included.
A chunk's id is `<document_id>#<chunk_index>`: the index is the chunk's place in document
order, so the id says which document it came from; the id is unique because the index is a
number after the last `#`.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import numpy.typing as npt
import pandas as pd

from embed_assets.corpus.chunking import Chunking, Span, chunk_spans
from embed_assets.corpus.hashing import hash_column
from embed_assets.errors import ConfigError
from embed_assets.models.tokens import (
    SpanCounter,
    TokenCounter,
    default_chunk_tokens,
    span_counters,
    token_counter,
)

CHUNK_COLUMNS = ["id", "document_id", "chunk_index", "chunk_start", "chunk_end", "content", "title"]
# below this many characters the documents are chunked here: a spawned worker imports the
# package (Dagster with it) for about 3 s, and chunking runs about 13 M characters a second on
# one core, so two cores win only past about 80 M characters (measured, bench "chunked")
PARALLEL_CHARACTERS = 80_000_000
COUNTED_CHARACTERS = 2_000_000  # texts counted by one numpy pass: ~40 MB of arrays
BATCHES_PER_WORKER = 4  # smaller batches even out documents of different lengths


def chunk_budget(chunking: Chunking, *, model: str) -> int:
    """The tokens a chunk may hold (`max_tokens`, or the model's default).

    Raises:
        ConfigError: `max_tokens` is above what the model reads.
    """
    default = default_chunk_tokens(model)
    if chunking.max_tokens is not None and chunking.max_tokens > default:
        raise ConfigError(
            f"chunking max_tokens={chunking.max_tokens} is more than {model} reads "
            f"({default} tokens as counted here); leave it unset for that default"
        )
    return chunking.max_tokens or default


def document_spans(
    text: str,
    title: str | None,
    *,
    max_tokens: int,
    overlap_tokens: int,
    count: TokenCounter,
    count_span: SpanCounter | None = None,
) -> list[Span]:
    """One document's chunks, each within `max_tokens` with the title.

    A chunk after the first starts up to `overlap_tokens` into the previous one, at a space.
    `count_span` is `count` of `text[start:end]`, faster (`models.tokens.span_counters`).

    Raises:
        ConfigError: the title alone leaves no room for text.
    """
    room = max_tokens - (count(title) + 1 if title else 0) - overlap_tokens
    if room < 4:
        raise ConfigError(
            f"a title of {count(title or '')} tokens leaves no room in chunks of {max_tokens} "
            "tokens; raise chunking max_tokens or shorten the titles"
        )
    cut = chunk_spans(text, max_tokens=room, count_tokens=count, count_span=count_span)
    if not overlap_tokens:
        return cut
    return [
        cut[0],
        *(
            _overlapped(text, previous, span, overlap_tokens, count)
            for previous, span in zip(cut, cut[1:], strict=False)
        ),
    ]


def _overlapped(
    text: str, previous: Span, span: Span, overlap_tokens: int, count: TokenCounter
) -> Span:
    """`span` starting earlier, at a space inside `previous`, by at most `overlap_tokens`."""
    start = span.start
    while True:
        space = text.rfind(" ", previous.start, start - 1)
        if space < previous.start:
            return Span(start, span.end)
        if count(text[space + 1 : span.start]) > overlap_tokens:
            return Span(start, span.end)
        start = space + 1


def _chunk_batch(
    model: str,
    max_tokens: int,
    overlap_tokens: int,
    texts: Sequence[str],
    titles: Sequence[str | None],
) -> list[list[tuple[int, int]]]:
    count, counters_of = token_counter(model), span_counters(model)
    found: list[list[tuple[int, int]]] = []
    for group in _groups(texts):
        counters = counters_of(texts[group]) if counters_of else [None] * len(texts[group])
        found.extend(
            [
                (s.start, s.end)
                for s in document_spans(
                    text,
                    title,
                    max_tokens=max_tokens,
                    overlap_tokens=overlap_tokens,
                    count=count,
                    count_span=counter,
                )
            ]
            for text, title, counter in zip(texts[group], titles[group], counters, strict=True)
        )
    return found


def _groups(texts: Sequence[str]) -> list[slice]:
    """Consecutive texts of about `COUNTED_CHARACTERS` together (one prefix sum each)."""
    groups, start, size = [], 0, 0
    for index, text in enumerate(texts):
        size += len(text)
        if size >= COUNTED_CHARACTERS:
            groups.append(slice(start, index + 1))
            start, size = index + 1, 0
    if start < len(texts):
        groups.append(slice(start, len(texts)))
    return groups


def chunk_documents(
    documents: pd.DataFrame,
    *,
    chunking: Chunking,
    model: str,
    workers: int | None = None,
) -> pd.DataFrame:
    """Splits accepted documents (`id, content, title`) into chunk rows, in document order.

    Args:
        documents: the accepted documents.
        chunking: the pipeline's chunking.
        model: the model the chunks are embedded with (its input limit and token count).
        workers: processes that chunk (default: one per core when the corpus is large).

    Returns:
        `id, document_id, chunk_index, chunk_start, chunk_end, content, title`: one row per
        chunk; `content` is the chunk's text, `chunk_start`/`chunk_end` its character offsets
        in the document's text (`end` exclusive).
    """
    return _chunk_rows(documents, chunking=chunking, model=model, workers=workers)[0]


def _chunk_rows(
    documents: pd.DataFrame, *, chunking: Chunking, model: str, workers: int | None
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """`chunk_documents`, and how many chunks each document gave."""
    max_tokens = chunk_budget(chunking, model=model)
    texts = documents["content"].tolist()
    titles = documents["title"].tolist()
    spans = _spans(model, max_tokens, chunking.overlap_tokens, texts, titles, workers)
    counts = np.fromiter((len(s) for s in spans), dtype=np.int64, count=len(spans))
    document_ids = np.repeat(documents["id"].to_numpy(dtype=object), counts)
    index = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    flat = [(row, start, end) for row, found in enumerate(spans) for start, end in found]
    frame = pd.DataFrame(
        {
            "id": [f"{d}#{i}" for d, i in zip(document_ids, index, strict=True)],
            "document_id": document_ids,
            "chunk_index": index.astype(np.int32),
            "chunk_start": np.fromiter((s for _, s, _ in flat), dtype=np.int64, count=len(flat)),
            "chunk_end": np.fromiter((e for _, _, e in flat), dtype=np.int64, count=len(flat)),
            "content": [texts[row][start:end] for row, start, end in flat],
            "title": np.repeat(np.asarray(titles, dtype=object), counts),
        },
        columns=CHUNK_COLUMNS,
    )
    return frame, counts


def _spans(
    model: str,
    max_tokens: int,
    overlap_tokens: int,
    texts: list[str],
    titles: list[str | None],
    workers: int | None,
) -> list[list[tuple[int, int]]]:
    """Every document's spans: here, or in worker processes for a large corpus."""
    if workers is None:
        large = sum(map(len, texts)) >= PARALLEL_CHARACTERS
        workers = (os.cpu_count() or 1) if large else 1
    if workers <= 1 or len(texts) < 2:
        return _chunk_batch(model, max_tokens, overlap_tokens, texts, titles)
    size = -(-len(texts) // (workers * BATCHES_PER_WORKER))
    batches = range(0, len(texts), size)
    # spawned, not forked: the parent may hold DuckDB and Dagster threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        parts = pool.map(
            _chunk_batch,
            *zip(
                *(
                    (
                        model,
                        max_tokens,
                        overlap_tokens,
                        texts[i : i + size],
                        titles[i : i + size],
                    )
                    for i in batches
                ),
                strict=True,
            ),
        )
        return [spans for part in parts for spans in part]


def chunk_corpus(
    normalized: pd.DataFrame,
    *,
    chunking: Chunking,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    workers: int | None = None,
) -> pd.DataFrame:
    """A normalized corpus (`corpus.hashing.normalized_corpus`) with its documents as chunks.

    Each accepted document gives its chunk rows (`row` is the document's place in the source),
    each hashed as what is embedded: the chunk's text with the document's title. A rejected
    document stays one row with its reason, and no place. Rows are in source order, then in
    document order.
    """
    accepted = normalized[normalized["reason"].isna()]
    chunks, counts = _chunk_rows(
        accepted[["id", "content", "title"]], chunking=chunking, model=model, workers=workers
    )
    chunks.insert(0, "row", np.repeat(accepted["row"].to_numpy(), counts))
    hashes = hash_column(
        chunks["content"],
        chunks["title"],
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    )
    chunks["content_hash"] = pd.Series(pd.arrays.ArrowExtensionArray(hashes), copy=False)
    chunks["reason"] = None
    rejected = normalized[normalized["reason"].notna()].assign(
        document_id=None, chunk_index=None, chunk_start=None, chunk_end=None
    )
    columns = [*normalized.columns, "document_id", "chunk_index", "chunk_start", "chunk_end"]
    places = {"chunk_start": "Int64", "chunk_end": "Int64", "chunk_index": "Int32"}
    if rejected.empty:  # chunks are made in source order, then document order
        return chunks[columns].astype(places)
    # the rejected documents' rows go in source order, between the chunks of the others
    every = pd.concat([chunks[columns], rejected[columns]], ignore_index=True).astype(places)
    order = np.lexsort((every["chunk_index"].fillna(0).to_numpy(), every["row"].to_numpy()))
    return every.iloc[order].reset_index(drop=True)


def source_rows(corpus: pd.DataFrame) -> int:
    """The rows the source had: documents, when `corpus` holds their chunks (`chunk_corpus`)."""
    return int(corpus["row"].nunique()) if "row" in corpus else len(corpus)
