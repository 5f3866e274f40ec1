"""The chunking rule in pure Python: the same cuts as the compiled `_splitter`, more slowly.

`corpus.chunking` describes the rule; `corpus.accelerator.splitter` picks this module where the
package was installed without its extension. Both take and give the same buffers, and tests
hold the two to the same chunks, character for character, on real and random texts.
"""

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from embed_assets.errors import CorpusError
from embed_assets.models.tokens import LETTERS_PER_TOKEN, estimate_vertex_tokens

if TYPE_CHECKING:
    from typing_extensions import Buffer

# paragraph breaks, sentence ends, spaces: the places a cut may fall, coarsest first
_BREAKS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))
_MAX_DEPTH = 64  # target halvings before a group is cut at every unit
_DRAWN_BYTES = 128  # a unit's draw hashes all of a text up to this many bytes,
_DRAWN_END = 60  # and of a longer one its first and last 60 and its length
# the code points str.isspace() (and so re's \s) takes for white space: none is above U+3000
_SPACES = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)

_Span = tuple[int, int]


def spans(
    offsets: "Buffer",
    data: "Buffer",
    documents: "Buffer",
    token_limits: "Buffer",
    counter: Callable[[str], int] | None = None,
    overlap: int = 0,
) -> tuple[bytes, bytes, bytes]:
    """Cuts some texts of an Arrow string buffer into chunks: `_splitter.spans` in Python.

    Args:
        offsets: int64 offsets of the texts in `data`, one more than the texts.
        data: the texts' UTF-8 bytes.
        documents: int64 positions of the texts to cut.
        token_limits: int64, for each of those, the most tokens one of its chunks may hold.
        counter: a model's token count of a text; None: the Vertex estimate.
        overlap: tokens of a chunk's end its next chunk may start with.

    Returns:
        int64 bytes: chunks per document; `[start, end)` of each chunk in its document's
        characters; the same in bytes of `data`.
    """
    offset = np.frombuffer(memoryview(offsets), dtype=np.int64)
    picked = np.frombuffer(memoryview(documents), dtype=np.int64)
    room = np.frombuffer(memoryview(token_limits), dtype=np.int64)
    raw = memoryview(data).cast("B")
    if len(room) != len(picked) or not _fits(offset, picked, len(raw)):
        raise CorpusError("documents, token_limits and offsets do not match the data")
    counts: list[int] = []
    characters: list[int] = []
    places: list[int] = []
    for index, text_at in enumerate(picked.tolist()):
        start, end = int(offset[text_at]), int(offset[text_at + 1])
        utf8 = bytes(raw[start:end])
        try:
            text = utf8.decode()
        except UnicodeDecodeError:
            raise CorpusError("a document's text is not UTF-8") from None
        found = _Document(text, int(room[index]), counter, overlap).spans()
        counts.append(len(found))
        flat = [place for span in found for place in span]
        characters += flat
        if len(utf8) == len(text):  # ASCII: a character is a byte
            places += [start + place for place in flat]
        else:
            at = _byte_positions(text)
            places += [start + int(at[place]) for place in flat]
    return _int64s(counts), _int64s(characters), _int64s(places)


def gather(data: "Buffer", places: "Buffer", into: "Buffer") -> None:
    """Copies the `[start, end)` byte ranges `places` of `data`, one after another, into `into`."""
    source = memoryview(data).cast("B")
    target = memoryview(into).cast("B")
    ranges = np.frombuffer(memoryview(places), dtype=np.int64).reshape(-1, 2)
    starts, ends = ranges[:, 0], ranges[:, 1]
    if (starts < 0).any() or (ends < starts).any() or (ends > len(source)).any():
        raise CorpusError("the places do not fit the data or the output")
    if int((ends - starts).sum()) != len(target):
        raise CorpusError("the places do not fit the data or the output")
    at = 0
    for start, end in ranges.tolist():
        target[at : at + end - start] = source[start:end]
        at += end - start


def _fits(offset: npt.NDArray[np.int64], picked: npt.NDArray[np.int64], size: int) -> bool:
    if not len(picked):
        return True
    if picked.min() < 0 or picked.max() >= len(offset) - 1:
        return False
    starts, ends = offset[picked], offset[picked + 1]
    return bool((starts >= 0).all() and (starts <= ends).all() and (ends <= size).all())


def _int64s(values: list[int]) -> bytes:
    return np.array(values, dtype=np.int64).tobytes()


def _code_points(text: str) -> npt.NDArray[np.uint32]:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _byte_positions(text: str) -> npt.NDArray[np.int64]:
    """Each character's offset in the text's UTF-8 bytes, and the length last."""
    points = _code_points(text)
    widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(widths, dtype=np.int64)])


class _Document:
    """One document cut into spans within `room` tokens, as the rule of `corpus.chunking` says."""

    def __init__(
        self, text: str, room: int, counter: Callable[[str], int] | None, overlap: int
    ) -> None:
        self.text, self.room, self.counter, self.overlap = text, room, counter, overlap
        self.out: list[_Span] = []
        self.draws: dict[_Span, float] = {}
        if counter is None:
            self.letters, self.prefix = _estimate_prefix(text)

    def spans(self) -> list[_Span]:
        whole = self.trimmed(0, len(self.text))
        if whole is None:
            return []
        self.split(whole, level=0, too_big=False)
        if self.overlap > 0:
            self.overlap_chunks()
        return self.out

    def count(self, start: int, end: int) -> int:
        """The tokens of `text[start:end]`."""
        if self.counter is not None:
            return int(self.counter(self.text[start:end]))
        if self.cuts_word(start) or self.cuts_word(end):
            return estimate_vertex_tokens(self.text[start:end])
        return self.prefix[end] - self.prefix[start]

    def cuts_word(self, at: int) -> bool:
        return 0 < at < len(self.text) and bool(self.letters[at - 1] and self.letters[at])

    def trimmed(self, start: int, end: int) -> _Span | None:
        """The span without white space at either end (None: only white space)."""
        text = self.text
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return (start, end) if start < end else None

    def split(self, span: _Span, *, level: int, too_big: bool) -> None:
        """Cuts one span at the breaks of `level` (0 paragraphs, 1 sentences, 2 spaces)."""
        if not too_big and self.count(*span) <= self.room:
            self.out.append(span)
        elif level == len(_BREAKS):
            self.split_characters(span)
        else:
            units = self.units(span, level)
            if len(units) == 1:
                self.split(units[0][:2], level=level + 1, too_big=True)
            else:
                self.group(units, level=level, target=self.room / 2, depth=0, too_big=True)

    def units(self, span: _Span, level: int) -> list[tuple[int, int, int]]:
        """The span cut at every break of `level`: each unit trimmed, with its tokens."""
        found: list[tuple[int, int, int]] = []
        start = span[0]
        for match in _BREAKS[level].finditer(self.text, span[0], span[1]):
            unit = self.trimmed(start, match.start())
            if unit is not None:
                found.append((*unit, self.count(*unit)))
            start = match.end()
        last = self.trimmed(start, span[1])
        if last is not None:
            found.append((*last, self.count(*last)))
        return found

    def group(
        self,
        units: list[tuple[int, int, int]],
        *,
        level: int,
        target: float,
        depth: int,
        too_big: bool,
    ) -> None:
        """Groups units between content-chosen cuts; a group that does not fit is cut again."""
        start, end = units[0][0], units[-1][1]
        if not too_big and self.count(start, end) <= self.room:
            self.out.append((start, end))
            return
        if len(units) == 1:
            self.split((start, end), level=level + 1, too_big=True)
            return
        first = 0
        cut = False
        for index in range(len(units) - 1):
            if depth < _MAX_DEPTH and not self.cut_after(units[index], target):
                continue
            cut = True
            self.group(
                units[first : index + 1], level=level, target=target / 2, depth=depth + 1,
                too_big=False,
            )  # fmt: skip
            first = index + 1
        # no cut at this target: a smaller target cuts more often
        self.group(units[first:], level=level, target=target / 2, depth=depth + 1, too_big=not cut)

    def cut_after(self, unit: tuple[int, int, int], target: float) -> bool:
        """A cut after `unit`, with a chance of its tokens / `target`, drawn from its text."""
        start, end, tokens = unit
        draw = self.draws.get((start, end))
        if draw is None:  # the same draw at every depth: the text is hashed once
            data = self.text[start:end].encode()
            if len(data) > _DRAWN_BYTES:  # a long unit: its ends and its length, one block
                data = data[:_DRAWN_END] + data[-_DRAWN_END:] + len(data).to_bytes(8, "big")
            digest = hashlib.blake2b(data, digest_size=8).digest()
            draw = (int.from_bytes(digest, "big") >> 11) / 2**53  # 53 bits: exact in JavaScript
            self.draws[(start, end)] = draw
        return draw < min(1.0, max(1, tokens) / target)

    def split_characters(self, span: _Span) -> None:
        """Cuts a word longer than the limit into the longest pieces that fit."""
        start, end = span
        while start < end:
            low, high = start + 1, end
            while low < high:  # the longest prefix from `start` that fits
                middle = (low + high + 1) // 2
                if self.count(start, middle) <= self.room:
                    low = middle
                else:
                    high = middle - 1
            self.out.append((start, low))
            start = low

    def overlap_chunks(self) -> None:
        """Each chunk but the first starts earlier, at a space, by at most `overlap` tokens.

        From the last chunk back, so that each looks at the cut of the one before it.
        """
        out = self.out
        for index in range(len(out) - 1, 0, -1):
            previous = out[index - 1][0]
            cut, end = out[index]
            start = cut
            while True:
                space = self.text.rfind(" ", previous, start - 1)
                if space < previous or self.count(space + 1, cut) > self.overlap:
                    break
                start = space + 1
            out[index] = (start, end)


def _estimate_prefix(text: str) -> tuple[bytes, list[int]]:
    """Which characters are ASCII letters, and the estimated tokens before each character.

    A word's tokens are counted at its 1st, 4th, 7th... letter, which gives the count of
    `estimate_vertex_tokens` for every span that cuts no word (`_Document.count` counts the
    others letter by letter).
    """
    points = _code_points(text)
    folded = points | 32
    letters = (folded >= ord("a")) & (folded <= ord("z"))
    spaces = np.isin(points, _SPACES)
    index = np.arange(len(points))
    word_starts = letters & ~np.concatenate([[False], letters[:-1]])
    in_word = index - np.maximum.accumulate(np.where(word_starts, index, 0))
    counted = (~letters & ~spaces) | (letters & (in_word % LETTERS_PER_TOKEN == 0))
    prefix = np.concatenate([np.zeros(1, np.int64), np.cumsum(counted, dtype=np.int64)])
    return letters.tobytes(), prefix.tolist()
