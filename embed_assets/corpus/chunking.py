"""Splitting a document into chunks within a model's input limit, at boundaries its text chooses.

The rule on its own; `corpus.chunk_rows` applies it to a corpus (`EmbeddingPipeline(chunking=...)`).
It runs in compiled code (`_splitter.c`, built with the package where a compiler is found),
reading texts where Arrow holds them, or else in pure Python (`corpus.pure_splitter`);
`chunking.js` is the same rule for BigQuery. Tests hold the three to the same cuts.

The rule, in a few lines:
- A document whose text fits is one chunk.
- Otherwise it is cut at paragraph breaks; a paragraph that does not fit alone is cut at
  sentence ends, a sentence at spaces, and a single word longer than the limit by characters.
  No cut falls inside a word otherwise.
- Whether a cut falls after a unit (a paragraph, sentence or word) depends only on that unit's
  own text: a draw from a hash of it (of a unit over 128 bytes, its first and last 60 bytes
  and its length), compared with the unit's share of a target size (half the limit).
  Units are grouped between such cuts; a group that does not fit is cut again with a smaller
  target, until every group fits. No running count from the document's start decides a
  boundary, so an edit inside one paragraph, or a paragraph inserted at the top, changes only
  the chunks around it, and the other chunks keep their text (and so their content hash).
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from embed_assets.corpus.accelerator import splitter
from embed_assets.corpus.arrow_text import utf8_buffers
from embed_assets.errors import ConfigError
from embed_assets.models.tokens import TokenCounter


@dataclass(frozen=True, kw_only=True)
class Chunking:
    """How documents are split into chunks.

    Attributes:
        max_tokens: the most tokens a chunk may hold (None: the model's input limit less a
            margin).
        overlap_tokens: tokens of the previous chunk's end repeated at a chunk's start.
    """

    max_tokens: int | None = None
    overlap_tokens: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 8:
            raise ConfigError(f"chunking max_tokens={self.max_tokens} must be at least 8")
        if self.overlap_tokens < 0 or (
            self.max_tokens is not None and self.overlap_tokens * 2 > self.max_tokens
        ):
            raise ConfigError(
                f"chunking overlap_tokens={self.overlap_tokens} must be between 0 and half of "
                "max_tokens"
            )


@dataclass(frozen=True)
class Span:
    """A chunk's place in its document: character offsets, `end` exclusive."""

    start: int
    end: int


def chunk_spans(
    text: str, *, max_tokens: int, count_tokens: TokenCounter | None = None
) -> list[Span]:
    """Splits `text` into chunks of at most `max_tokens` tokens, as the module describes.

    Args:
        text: the document's text.
        max_tokens: the most tokens a chunk may hold, as `count_tokens` counts them.
        count_tokens: the model's token count of a text (it must not undercount the model's);
            None: the Vertex models' estimate, `models.tokens.estimate_vertex_tokens`.

    Returns:
        The chunks in document order; together they hold every non-space character of
        `text`, and none begins or ends with white space.
    """
    _, places = split_texts([text], token_limits=np.array([max_tokens]), count_tokens=count_tokens)
    return [Span(int(start), int(end)) for start, end in places]


def split_texts(
    texts: list[str],
    *,
    token_limits: npt.NDArray[np.int64],
    count_tokens: TokenCounter | None = None,
    overlap_tokens: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`split_strings` of Python texts: how many chunks each gave, and their places."""
    cut = split_strings(
        pa.array(texts, type=pa.large_string()),
        documents=np.arange(len(texts)),
        token_limits=token_limits,
        count_tokens=count_tokens,
        overlap_tokens=overlap_tokens,
    )
    return cut.counts, cut.characters


class Cut(NamedTuple):
    """Documents cut into chunks (`split_strings`), chunk after chunk in document order.

    Attributes:
        counts: how many chunks each document gave.
        characters: each chunk's `[start, end)` in its document's characters.
        places: the same in bytes of the Arrow array's data buffer (`utf8_buffers`).
    """

    counts: npt.NDArray[np.int64]
    characters: npt.NDArray[np.int64]
    places: npt.NDArray[np.int64]


def split_strings(
    array: pa.Array,
    *,
    documents: npt.NDArray[np.int64],
    token_limits: npt.NDArray[np.int64],
    count_tokens: TokenCounter | None = None,
    overlap_tokens: int = 0,
) -> Cut:
    """`chunk_spans` of some strings of an Arrow array, read in place: no Python str each.

    With `count_tokens=None` (the Vertex estimate) the compiled rule cuts without holding the
    GIL, so threads that call this cut on every core.

    Args:
        array: an Arrow `string` or `large_string` array.
        documents: the positions in `array` of the texts to cut (none of them null).
        token_limits: for each of those, the most tokens one of its chunks may hold.
        count_tokens: as for `chunk_spans`.
        overlap_tokens: each chunk after a document's first then starts earlier, at a space
            inside the chunk before it, by at most this many tokens (`Chunking`).
    """
    offsets, data = utf8_buffers(array)
    counts, characters, places = splitter().spans(
        offsets.tobytes(),
        data,
        np.asarray(documents, dtype=np.int64).tobytes(),
        np.asarray(token_limits, dtype=np.int64).tobytes(),
        count_tokens,
        overlap_tokens,
    )
    return Cut(
        np.frombuffer(counts, dtype=np.int64),
        np.frombuffer(characters, dtype=np.int64).reshape(-1, 2),
        np.frombuffer(places, dtype=np.int64).reshape(-1, 2),
    )
