"""The chunking rule in plain Python: the reference the compiled rule is held to, cut for cut.

This was the package's implementation before `embed_assets/corpus/_splitter.c` (which also
made a unit's draw the same at every depth, from at most 128 bytes of it); it stays here so
that tests can compare the two on real and random texts.
"""

import hashlib
import re
from collections.abc import Callable

from embed_assets.corpus.chunking import Span

_BREAKS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))
_MAX_DEPTH = 64


def reference_spans(
    text: str, *, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Span]:
    """`embed_assets.corpus.chunking.chunk_spans`, in Python."""
    whole = _trimmed(text, 0, len(text))
    if whole is None:
        return []
    return _Splitter(text, max_tokens, lambda start, end: count_tokens(text[start:end])).split(
        whole, level=0
    )


def _trimmed(text: str, start: int, end: int) -> Span | None:
    """The span without white space at either end (None: only white space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if start < end else None


class _Splitter:
    def __init__(self, text: str, max_tokens: int, count_span: Callable[[int, int], int]) -> None:
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
        data = self.text[unit.start : unit.end].encode()
        if len(data) > 128:  # a long unit: its ends and its length (one block of the hash)
            data = data[:60] + data[-60:] + len(data).to_bytes(8, "big")
        digest = hashlib.blake2b(data, digest_size=8).digest()  # the same at any depth
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


def reference_overlapped(
    text: str, spans: list[Span], *, overlap_tokens: int, count_tokens: Callable[[str], int]
) -> list[Span]:
    """Each chunk but the first started earlier, at a space, by at most `overlap_tokens`."""
    return [
        spans[0],
        *(
            _overlapped(text, previous, span, overlap_tokens, count_tokens)
            for previous, span in zip(spans, spans[1:], strict=False)
        ),
    ]


def _overlapped(
    text: str, previous: Span, span: Span, overlap_tokens: int, count: Callable[[str], int]
) -> Span:
    start = span.start
    while True:
        space = text.rfind(" ", previous.start, start - 1)
        if space < previous.start:
            return Span(start, span.end)
        if count(text[space + 1 : span.start]) > overlap_tokens:
            return Span(start, span.end)
        start = space + 1
