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
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embed_assets.corpus.accelerator import compiled_module, splitter
from embed_assets.corpus.arrow_text import utf8_buffers
from embed_assets.corpus.chunking import Chunking, Cut, split_strings
from embed_assets.corpus.hashing import arrow_strings, hash_column, normalized_corpus
from embed_assets.corpus.validation import ValidatedCorpus, is_string_dtype
from embed_assets.errors import ConfigError
from embed_assets.models.tokens import (
    TokenCounter,
    counts_exactly,
    default_chunk_tokens,
    token_counter,
)

CHUNK_COLUMNS = ["id", "document_id", "chunk_index", "chunk_start", "chunk_end", "content", "title"]
# the compiled rule counts the estimate without the GIL: texts of about this many bytes go to
# one thread at a time, and every core cuts
THREAD_BYTES = 4_000_000


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


class DocumentChunks(NamedTuple):
    """Documents cut into chunks, chunk after chunk in document order.

    Attributes:
        counts: how many chunks each document gave.
        starts: each chunk's first character in its document.
        ends: the character after its last.
        contents: each chunk's text.
    """

    counts: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    contents: pa.Array


def cut_documents(
    texts: pa.ChunkedArray,
    titles: Sequence[str | None],
    *,
    documents: npt.NDArray[np.int64],
    max_tokens: int,
    overlap_tokens: int,
    model: str,
    workers: int | None = None,
) -> DocumentChunks:
    """Some documents of a text column cut into chunks, each within `max_tokens` with its title.

    The texts are read where Arrow holds them and the chunks' texts written as Arrow strings:
    no Python str is made for a document or a chunk. A chunk after the first starts up to
    `overlap_tokens` into the previous one, at a space.

    Args:
        texts: the column of texts.
        titles: the titles of `documents` (each goes with every chunk of its document).
        documents: the positions in `texts` of the documents to cut, ascending.
        max_tokens: the most tokens a chunk may hold, title included.
        overlap_tokens: see `Chunking`.
        model: whose token count cuts (`models.tokens.token_counter`).
        workers: threads that cut (default: one per core; with the compiled rule and the Vertex
            estimate only, as a model's own tokenizer and the pure-Python rule hold the GIL).

    Raises:
        ConfigError: a title alone leaves no room for text.
    """
    count = token_counter(model)
    token_limits = _token_limits(
        titles, max_tokens=max_tokens, overlap_tokens=overlap_tokens, count=count
    )
    exact = counts_exactly(model)
    parallel = not exact and compiled_module("_splitter") is not None
    threads = (workers or os.cpu_count() or 1) if parallel else 1
    batches = _batches(texts, documents, threads)

    def cut(batch: tuple[pa.Array, slice, int]) -> Cut:
        array, picked, first = batch
        return split_strings(
            array,
            documents=documents[picked] - first,
            token_limits=token_limits[picked],
            count_tokens=count if exact else None,
            overlap_tokens=overlap_tokens,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(len(batches), threads))) as pool:
        cuts = list(pool.map(cut, batches))
        # every chunk's text into one buffer: one Arrow array, cheap to take rows from
        places = [c.places for c in cuts]
        offsets = np.concatenate([np.zeros(1, np.int64), *(p[:, 1] - p[:, 0] for p in places)])
        offsets = offsets.cumsum()
        contents = np.empty(int(offsets[-1]), dtype=np.uint8)
        view = contents.data
        firsts = np.cumsum([0, *map(len, places)])  # each batch's first chunk
        copies = [
            pool.submit(
                splitter().gather,
                utf8_buffers(array)[1],
                np.ascontiguousarray(place).tobytes(),
                view[offsets[first] : offsets[stop]],
            )
            for (array, _, _), place, first, stop in zip(
                batches, places, firsts[:-1], firsts[1:], strict=True
            )
        ]
        for copy in copies:
            copy.result()
    return DocumentChunks(
        np.concatenate([np.zeros(0, np.int64), *(c.counts for c in cuts)]),
        np.concatenate([np.zeros(0, np.int64), *(c.characters[:, 0] for c in cuts)]),
        np.concatenate([np.zeros(0, np.int64), *(c.characters[:, 1] for c in cuts)]),
        pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(contents)
        ),
    )


def _token_limits(
    titles: Sequence[str | None], *, max_tokens: int, overlap_tokens: int, count: TokenCounter
) -> npt.NDArray[np.int64]:
    """The tokens left for each document's text: `max_tokens` less its title and the overlap."""
    title_tokens: dict[str | None, int] = {None: 0, "": 0}  # a title, and 1 to join it
    token_limits = np.empty(len(titles), dtype=np.int64)
    for index, title in enumerate(titles):
        key = title if isinstance(title, str) else None  # missing: None, NaN or NA
        if key is not None and key not in title_tokens:
            title_tokens[key] = count(key) + 1
        token_limits[index] = max_tokens - title_tokens[key] - overlap_tokens
        if token_limits[index] < 4:
            raise ConfigError(
                f"a title of {max(0, title_tokens[key] - 1)} tokens leaves no room in chunks of "
                f"{max_tokens} tokens; raise chunking max_tokens or shorten the titles"
            )
    return token_limits


def _batches(
    texts: pa.ChunkedArray, documents: npt.NDArray[np.int64], threads: int
) -> list[tuple[pa.Array, slice, int]]:
    """The documents in batches of about `THREAD_BYTES` (at least one batch per thread).

    Each batch is one Arrow chunk of `texts`, the slice of `documents` it cuts, and the
    position of the chunk's first text in `texts`.
    """
    picked = []
    first = 0
    for array in texts.chunks:
        lo, hi = (int(i) for i in np.searchsorted(documents, [first, first + len(array)]))
        offsets, _ = utf8_buffers(array)
        inside = documents[lo:hi] - first
        picked.append((array, lo, first, np.cumsum(offsets[inside + 1] - offsets[inside])))
        first += len(array)
    total = sum(int(sizes[-1]) for *_, sizes in picked if len(sizes))
    size = max(1, min(THREAD_BYTES, -(-total // threads)))
    batches = []
    for array, lo, first, sizes in picked:
        if not len(sizes):
            continue
        number = (sizes - 1) // size  # each document's batch, by the bytes up to its end
        edges = [0, *(np.flatnonzero(np.diff(number)) + 1).tolist(), len(sizes)]
        batches += [
            (array, slice(lo + a, lo + b), first) for a, b in zip(edges, edges[1:], strict=False)
        ]
    return batches


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
        workers: threads that cut (default: one per core).

    Returns:
        `id, document_id, chunk_index, chunk_start, chunk_end, content, title`: one row per
        chunk; `content` is the chunk's text, `chunk_start`/`chunk_end` its character offsets
        in the document's text (`end` exclusive).
    """
    everything = np.arange(len(documents))
    return _chunk_rows(documents, everything, chunking=chunking, model=model, workers=workers)[0]


def _chunk_rows(
    documents: pd.DataFrame,
    accepted: npt.NDArray[np.int64],
    *,
    chunking: Chunking,
    model: str,
    workers: int | None,
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The chunk rows of the documents at positions `accepted`, and how many each gave."""
    # a missing title is None (not NaN or NA): one Python object per document, not per chunk
    titles = np.array([t if isinstance(t, str) else None for t in documents["title"]], object)
    found = cut_documents(
        _texts(documents["content"], accepted),
        titles[accepted].tolist(),
        documents=accepted,
        max_tokens=chunk_budget(chunking, model=model),
        overlap_tokens=chunking.overlap_tokens,
        model=model,
        workers=workers,
    )
    counts = found.counts
    rows = np.repeat(accepted, counts)
    index = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    document_ids = _chunked(arrow_strings(documents["id"])).take(rows)
    chunk_ids = pc.binary_join_element_wise(document_ids, pc.cast(index, pa.string()), "#")
    frame = pd.DataFrame(
        {
            "id": _arrow_column(chunk_ids),
            "document_id": _arrow_column(document_ids),
            "chunk_index": index.astype(np.int32),
            "chunk_start": found.starts,
            "chunk_end": found.ends,
            "content": _arrow_column(found.contents),
            "title": titles[rows],
        },
        columns=CHUNK_COLUMNS,
    )
    return frame, counts


def _texts(column: pd.Series, accepted: npt.NDArray[np.int64]) -> pa.ChunkedArray:
    """A text column as Arrow strings: in place when pandas holds it as Arrow already.

    Only the `accepted` rows are read; a rejected row may hold anything (a number, a list).
    """
    if is_string_dtype(column):
        return _chunked(arrow_strings(column))
    values = column.to_numpy(dtype=object)
    texts = np.full(len(values), None, dtype=object)
    texts[accepted] = values[accepted]
    return pa.chunked_array([pa.array(texts, pa.string())])


def _chunked(array: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _arrow_column(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(values), copy=False)


def prepared_corpus(
    validated: ValidatedCorpus,
    *,
    chunking: Chunking | None,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    first_row: int = 0,
) -> pd.DataFrame:
    """A validated corpus hashed (`normalized_corpus`), or with `chunking` cut into hashed chunks.

    Args:
        validated: the validated rows.
        chunking: the pipeline's chunking, if any.
        model: the model the texts are embedded with.
        task_type: the task type (part of each text's hash).
        output_dimensionality: the dimensionality (part of each text's hash).
        first_row: the place of the first row in its source (a batch of a larger source).
    """
    normalized = normalized_corpus(
        validated,
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
        hashed=chunking is None,  # chunks are hashed, not the documents they come from
    )
    normalized["row"] += first_row
    if chunking is None:
        return normalized
    return chunk_corpus(
        normalized,
        chunking=chunking,
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    )


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
    accepted = np.flatnonzero(normalized["reason"].isna().to_numpy())
    chunks, counts = _chunk_rows(
        normalized, accepted, chunking=chunking, model=model, workers=workers
    )
    chunks.insert(0, "row", np.repeat(normalized["row"].to_numpy()[accepted], counts))
    hashes = hash_column(
        chunks["content"],
        chunks["title"],
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    )
    chunks["content_hash"] = _arrow_column(hashes)
    chunks["reason"] = None
    columns = [*normalized.columns, "document_id", "chunk_index", "chunk_start", "chunk_end"]
    places = {"chunk_start": "Int64", "chunk_end": "Int64", "chunk_index": "Int32"}
    if len(accepted) == len(normalized):  # chunks are made in source order, then document order
        return chunks[columns].astype(places)
    chunks = chunks[columns].astype(places)
    rejected = normalized[normalized["reason"].notna()].assign(
        document_id=None, chunk_index=None, chunk_start=None, chunk_end=None
    )[columns]
    # a column with no value takes the chunks' type (pandas stops guessing it past 2.x)
    empty = [name for name in columns if rejected[name].isna().all()]
    rejected = rejected.astype({name: chunks[name].dtype for name in empty})
    # the rejected documents' rows go in source order, between the chunks of the others
    every = pd.concat([chunks, rejected], ignore_index=True)
    order = np.lexsort((every["chunk_index"].fillna(0).to_numpy(), every["row"].to_numpy()))
    return every.iloc[order].reset_index(drop=True)
