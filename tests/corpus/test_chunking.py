"""The chunking rule on real prose: within the limit, never mid-word, edits stay local.

These run on the rule this installation uses; `test_splitters.py` holds the compiled and the
pure-Python rule to the same cuts.
"""

import random
import re

import numpy as np
import pytest

from embed_assets.corpus.chunking import Chunking, Span, chunk_spans, split_texts
from embed_assets.errors import ConfigError
from embed_assets.models.tokens import estimate_vertex_tokens
from tests.helpers import module_documentation


def words(text: str) -> int:
    """A token count that never undercounts a word tokenizer's (one per word or symbol run)."""
    return len(re.findall(r"\w+|[^\w\s]+", text))


@pytest.fixture(scope="module")
def manual() -> str:
    """Real prose and code: the argparse, json and textwrap documentation as Python renders it."""
    return module_documentation("argparse", "json", "textwrap")


def _visible(text: str) -> str:
    return re.sub(r"\s", "", text)


def texts(text: str, spans: list[Span]) -> list[str]:
    return [text[span.start : span.end] for span in spans]


def test_a_text_that_fits_is_one_chunk() -> None:
    assert chunk_spans("  a short text.  ", max_tokens=50, count_tokens=words) == [Span(2, 15)]
    assert chunk_spans(" \n ", max_tokens=50, count_tokens=words) == []


def test_every_chunk_is_within_the_limit_and_together_they_cover_the_text(manual: str) -> None:
    spans = chunk_spans(manual, max_tokens=300, count_tokens=words)
    assert len(spans) > 20
    assert all(words(chunk) <= 300 for chunk in texts(manual, spans))
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert _visible("".join(texts(manual, spans))) == _visible(manual)  # every non-space character


def test_cuts_fall_between_words(manual: str) -> None:
    spans = chunk_spans(manual, max_tokens=120, count_tokens=words)
    for span in spans[1:]:
        assert manual[span.start - 1].isspace()  # a chunk starts after white space


def test_a_word_longer_than_the_limit_is_cut_by_characters() -> None:
    text = "start " + "x" * 80 + " end"
    spans = chunk_spans(text, max_tokens=8, count_tokens=lambda t: len(t) // 8 + 1)
    assert _visible("".join(texts(text, spans))) == _visible(text)
    assert texts(text, spans)[0] == "start"  # the long word is cut, its neighbours are not
    assert all(len(chunk) // 8 + 1 <= 8 for chunk in texts(text, spans))


def _changed(before: list[str], after: list[str]) -> int:
    """Chunks of `after` whose text is not a chunk of `before` (each would be a new prompt)."""
    return len(set(after) - set(before))


def test_an_edit_or_a_paragraph_at_the_top_changes_at_most_three_chunks(manual: str) -> None:
    before = texts(manual, chunk_spans(manual, max_tokens=300, count_tokens=words))
    paragraphs = manual.split("\n\n")
    middle = len(paragraphs) // 2
    edited = paragraphs.copy()
    edited[middle] = edited[middle].replace(" the ", " THE ", 1) + " An added sentence."
    inserted = ["A new first paragraph, written at the top of the document.", *paragraphs]
    shortened = paragraphs[: len(paragraphs) * 3 // 4]
    for variant in (edited, inserted):
        text = "\n\n".join(variant)
        after = texts(text, chunk_spans(text, max_tokens=300, count_tokens=words))
        assert _changed(before, after) <= 3
    text = "\n\n".join(shortened)
    after = texts(text, chunk_spans(text, max_tokens=300, count_tokens=words))
    assert _changed(before, after) <= 3 and len(after) < len(before)


def test_chunking_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_tokens=4"):
        Chunking(max_tokens=4)
    with pytest.raises(ConfigError, match="overlap_tokens=60"):
        Chunking(max_tokens=100, overlap_tokens=60)


# characters that exercise every branch of the rule: paragraph and sentence breaks, Unicode
# white space (U+3000, U+2028, U+0085, U+001C), letters outside ASCII, digits, symbols, emoji
_ALPHABET = list("abc DEF. gh!\n\n? \t\u00e9\u3000\u2028x1,;\U0001f600\u0085\x1c漢字Zzabcdefghij")


def random_texts(seed: int, count: int) -> list[str]:
    draw = random.Random(seed)
    return [
        "".join(draw.choice(_ALPHABET) for _ in range(draw.randint(0, 2000))) for _ in range(count)
    ]


def test_the_estimate_counted_by_the_rule_is_the_python_estimate(manual: str) -> None:
    """`count_tokens=None` counts `estimate_vertex_tokens` inside the rule: the same cuts."""
    ascii_only = [re.sub(r"[^\x00-\x7f]", "a", text) for text in random_texts(8, 100)]
    samples = [manual, *random_texts(7, 300), *ascii_only, "x" * 5000, "word " * 3000]
    for max_tokens in (8, 50, 400):
        token_limits = np.full(len(samples), max_tokens)
        native = split_texts(samples, token_limits=token_limits)
        called = split_texts(
            samples, token_limits=token_limits, count_tokens=estimate_vertex_tokens
        )
        assert np.array_equal(native[0], called[0]) and np.array_equal(native[1], called[1])
        assert native[1].shape[0] > len(samples)  # the texts were cut, not passed whole
