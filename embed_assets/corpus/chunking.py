"""Splitting a document into chunks within a model's input limit, at boundaries its text chooses.

The rule on its own; `corpus.chunks` applies it to a corpus (`EmbeddingPipeline(chunking=...)`).

The rule, in a few lines:
- A document whose text fits is one chunk.
- Otherwise it is cut at paragraph breaks; a paragraph that does not fit alone is cut at
  sentence ends, a sentence at spaces, and a single word longer than the limit by characters.
  No cut falls inside a word otherwise.
- Whether a cut falls after a unit (a paragraph, sentence or word) depends only on that unit's
  own text: a hash of it, compared with the unit's share of a target size (half the limit).
  Units are grouped between such cuts; a group that does not fit is cut again with a smaller
  target, until every group fits. No running count from the document's start decides a
  boundary, so an edit inside one paragraph, or a paragraph inserted at the top, changes only
  the chunks around it, and the other chunks keep their text (and so their content hash).
"""

import hashlib
import re
from dataclasses import dataclass

from embed_assets.errors import ConfigError
from embed_assets.models.tokens import SpanCounter, TokenCounter

# paragraph breaks, sentence ends, spaces: the places a cut may fall, coarsest first
_BREAKS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))
_MAX_DEPTH = 64  # target halvings before a group is cut at every unit


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
    text: str,
    *,
    max_tokens: int,
    count_tokens: TokenCounter,
    count_span: SpanCounter | None = None,
) -> list[Span]:
    """Splits `text` into chunks of at most `max_tokens` tokens, as the module describes.

    Args:
        text: the document's text.
        max_tokens: the most tokens a chunk may hold, as `count_tokens` counts them.
        count_tokens: the model's token count of a text (it must not undercount the model's).
        count_span: the same count of `text[start:end]`, answered without slicing (faster;
            it must equal `count_tokens` of the slice).

    Returns:
        The chunks in document order; together they hold every non-space character of
        `text`, and none begins or ends with white space.
    """
    whole = _trimmed(text, 0, len(text))
    if whole is None:
        return []
    count = count_span or (lambda start, end: count_tokens(text[start:end]))
    return _Splitter(text, max_tokens, count).split(whole, level=0)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    """The span without white space at either end (None: only white space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if start < end else None


class _Splitter:
    def __init__(self, text: str, max_tokens: int, count_span: SpanCounter) -> None:
        self.text, self.max_tokens, self.count_span = text, max_tokens, count_span
        self.counted: dict[tuple[int, int], int] = {}

    def count(self, span: Span) -> int:
        key = (span.start, span.end)
        if key not in self.counted:  # a unit is counted once, whatever the depth
            self.counted[key] = self.count_span(span.start, span.end)
        return self.counted[key]

    def fits(self, span: Span) -> bool:
        return self.count(span) <= self.max_tokens

    def split(self, span: Span, *, level: int) -> list[Span]:
        """Splits one span at the breaks of `level` (0 paragraphs, 1 sentences, 2 spaces)."""
        if self.fits(span):
            return [span]
        if level == len(_BREAKS):
            return self.split_characters(span)
        units = self.units(span, level)
        if len(units) == 1:
            return self.split(units[0], level=level + 1)
        target = self.max_tokens / 2
        return self.group(units, level=level, target=target, depth=0)

    def units(self, span: Span, level: int) -> list[Span]:
        """The span cut at every break of `level`, each unit trimmed."""
        found: list[Span] = []
        start = span.start
        for match in _BREAKS[level].finditer(self.text, span.start, span.end):
            unit = _trimmed(self.text, start, match.start())
            if unit is not None:
                found.append(unit)
            start = match.end()
        last = _trimmed(self.text, start, span.end)
        if last is not None:
            found.append(last)
        return found

    def group(self, units: list[Span], *, level: int, target: float, depth: int) -> list[Span]:
        """Groups units between content-chosen cuts; a group that does not fit is cut again."""
        whole = Span(units[0].start, units[-1].end)
        if self.fits(whole):
            return [whole]
        if len(units) == 1:
            return self.split(whole, level=level + 1)
        groups: list[list[Span]] = [[]]
        for index, unit in enumerate(units):
            groups[-1].append(unit)
            if index < len(units) - 1 and (
                depth >= _MAX_DEPTH or self.cut_after(unit, target, depth)
            ):
                groups.append([])
        if len(groups) == 1:  # no cut at this target: a smaller target cuts more often
            return self.group(units, level=level, target=target / 2, depth=depth + 1)
        return [
            chunk
            for part in groups
            for chunk in self.group(part, level=level, target=target / 2, depth=depth + 1)
        ]

    def cut_after(self, unit: Span, target: float, depth: int) -> bool:
        """A cut after `unit`, with a chance of its tokens / `target`, chosen by its text."""
        piece = self.text[unit.start : unit.end]
        digest = hashlib.blake2b(f"{depth}\0{piece}".encode(), digest_size=8).digest()
        draw = (int.from_bytes(digest, "big") >> 11) / 2**53  # 53 bits: exact in JavaScript too
        return draw < min(1.0, max(1, self.count(unit)) / target)

    def split_characters(self, span: Span) -> list[Span]:
        """Cuts a word longer than the limit into the longest pieces that fit."""
        pieces: list[Span] = []
        start = span.start
        while start < span.end:
            low, high = start + 1, span.end
            while low < high:  # the longest prefix from `start` that fits
                middle = (low + high + 1) // 2
                if self.fits(Span(start, middle)):
                    low = middle
                else:
                    high = middle - 1
            pieces.append(Span(start, low))
            start = low
        return pieces
