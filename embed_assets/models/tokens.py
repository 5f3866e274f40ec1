"""A model's token count of a text before it is sent, so that chunks fit its input limit.

- lexical-hash counts its own words: exact.
- all-MiniLM-L6-v2 counts with its own tokenizer, special tokens included: exact.
- The Vertex models' tokenizers do not ship with any package here, so their count is an
  estimate meant never to fall short: one token per digit, per symbol and per character
  outside ASCII, and one per three letters of an ASCII word (SentencePiece vocabularies
  average about four letters a token on English prose). Chunks are cut to 90 % of the limit
  on top of that. The service reports each row's own count (`token_count` in the table) and
  whether it cut the text (`truncated`, the `not_truncated` check): that is where an estimate
  that fell short shows.
"""

import re
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from embed_assets.models.catalog import model_spec
from embed_assets.models.registry import LEXICAL_MODEL, MINILM_MODEL, load_local_model

TokenCounter = Callable[[str], int]
SpanCounter = Callable[[int, int], int]  # tokens of text[start:end] of one text

# an estimated count leaves this share of the input limit to the estimate's error
ESTIMATE_MARGIN = 0.9
LETTERS_PER_TOKEN = 3

_ASCII_WORD = re.compile(r"[A-Za-z]+")
_NOT_COUNTED_APART = re.compile(r"[A-Za-z\s]+")  # letters (counted per word) and white space


def estimate_vertex_tokens(text: str) -> int:
    """The estimate of the module docstring: an upper bound, not the service's exact count."""
    words = sum(-(-len(word) // LETTERS_PER_TOKEN) for word in _ASCII_WORD.findall(text))
    return words + len(_NOT_COUNTED_APART.sub("", text))


# white space as str.isspace() and re's \s see it, by code point (none is above U+3000)
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x3002)])


def estimate_vertex_span_counters(texts: Sequence[str]) -> list[SpanCounter]:
    """For each text, `estimate_vertex_tokens` of any of its spans, from one prefix sum.

    The estimate adds up over pieces cut between words: a word's tokens, counted at its first
    letter, and 1 for each character that is neither letter nor space. One
    numpy pass over the texts joined (by a line break, so no word runs from one into the next)
    serves them all; a span that cuts a word (a word longer than a chunk) is counted from its
    text instead.
    """
    joined = "\n".join(texts)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded = points | 32
    letter = (folded >= ord("a")) & (folded <= ord("z"))
    inside_word = np.concatenate(([False], letter[:-1] & letter[1:], [False]))
    counted = (~letter & ~_IS_SPACE[np.minimum(points, 0x3001)]).astype(np.int32)
    # a word's tokens are counted at its first letter: spans that count fast never cut a word
    first = np.flatnonzero(letter & ~inside_word[:-1])
    last = np.flatnonzero(letter & ~inside_word[1:])
    counted[first] = (last - first + LETTERS_PER_TOKEN) // LETTERS_PER_TOKEN
    prefix = np.concatenate(([0], np.cumsum(counted, dtype=np.int32)))  # a group: < 2**31
    counters = []
    base = 0
    for text in texts:
        counters.append(_span_counter(text, base, prefix, inside_word))
        base += len(text) + 1
    return counters


def _span_counter(
    text: str, base: int, prefix: npt.NDArray[np.int32], inside_word: npt.NDArray[np.bool_]
) -> SpanCounter:
    def count(start: int, end: int) -> int:
        if inside_word[base + start] or inside_word[base + end]:
            return estimate_vertex_tokens(text[start:end])
        return int(prefix[base + end] - prefix[base + start])

    return count


def _lexical_tokens(text: str) -> int:
    return int(load_local_model(LEXICAL_MODEL).count_tokens([text])[0])


def _minilm_tokens(text: str) -> int:
    return int(load_local_model(MINILM_MODEL).count_tokens([text])[0])


@cache
def token_counter(model: str) -> TokenCounter:
    """Returns how `model`'s tokens of a text are counted (see the module docstring).

    Raises:
        ConfigError: the model is unknown.
    """
    name = model_spec(model).name
    if name == LEXICAL_MODEL:
        return _lexical_tokens
    if name == MINILM_MODEL:
        return _minilm_tokens
    return estimate_vertex_tokens


def span_counters(model: str) -> Callable[[Sequence[str]], list[SpanCounter]] | None:
    """For a model whose count adds up over spans, what counts any span of texts fast."""
    return None if counts_exactly(model) else estimate_vertex_span_counters


def counts_exactly(model: str) -> bool:
    """True when `token_counter(model)` is the model's own count, not an estimate."""
    return model_spec(model).name in (LEXICAL_MODEL, MINILM_MODEL)


def default_chunk_tokens(model: str) -> int:
    """The default `Chunking.max_tokens`: the model's input limit, less a margin if estimated."""
    limit = model_spec(model).max_input_tokens
    return limit if counts_exactly(model) else int(limit * ESTIMATE_MARGIN)
