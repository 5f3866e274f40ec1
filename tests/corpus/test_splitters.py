"""The compiled and the pure-Python chunking rule give the same chunks, byte for byte."""

import importlib
import re
import sys
from types import ModuleType

import numpy as np
import pyarrow as pa
import pytest

from embed_assets.corpus import pure_splitter
from embed_assets.corpus.arrow_text import utf8_buffers
from tests.corpus.test_chunking import random_texts, words
from tests.helpers import module_documentation


@pytest.fixture(scope="module")
def compiled() -> ModuleType:
    """The extension itself (whatever EMBED_ASSETS_PURE_PYTHON says): CI builds it."""
    return importlib.import_module("embed_assets.corpus._splitter")


@pytest.fixture(scope="module")
def samples() -> list[str]:
    """Real prose and code, random texts that reach every branch, and the edge cases."""
    manual = module_documentation("argparse", "json", "textwrap", "unittest")
    paragraphs = manual.split("\n\n")
    ascii_only = [re.sub(r"[^\x00-\x7f]", "a", text) for text in random_texts(3, 100)]
    return [
        manual,
        *paragraphs[:120],
        *random_texts(1, 150),
        *ascii_only,
        "",
        " \n\t ",
        "x" * 5000,
        "word " * 3000,
        "é" * 700 + " " + "漢字" * 300,
        "a.b.c. " * 500,
    ]


def _cut(
    module: ModuleType | object,
    texts: list[str],
    *,
    room: int,
    counter: object = None,
    overlap: int = 0,
) -> tuple[bytes, bytes, bytes]:
    array = pa.array(texts, pa.large_string())
    offsets, data = utf8_buffers(array)
    documents = np.arange(len(texts), dtype=np.int64)
    token_limits = np.full(len(texts), room, dtype=np.int64)
    return module.spans(  # type: ignore[attr-defined, no-any-return]
        offsets.tobytes(), data, documents.tobytes(), token_limits.tobytes(), counter, overlap
    )


@pytest.mark.parametrize("room", [8, 40, 300])
@pytest.mark.parametrize("overlap", [0, 3])
def test_both_rules_give_the_same_chunks(
    compiled: ModuleType, samples: list[str], room: int, overlap: int
) -> None:
    """Chunks per document, character offsets and byte offsets: all the same.

    With the estimate counted inside the rule, and with a Python counter (a model's own).
    """
    for counter in (None, words):
        expected = _cut(compiled, samples, room=room, counter=counter, overlap=overlap)
        assert _cut(pure_splitter, samples, room=room, counter=counter, overlap=overlap) == (
            expected
        )
        assert len(expected[1]) // 16 > len(samples)  # texts were cut, not passed whole


def test_both_gather_the_same_bytes(compiled: ModuleType, samples: list[str]) -> None:
    array = pa.array(samples, pa.large_string())
    _, data = utf8_buffers(array)
    _, _, places = _cut(compiled, samples, room=40)
    ranges = np.frombuffer(places, np.int64).reshape(-1, 2)
    size = int((ranges[:, 1] - ranges[:, 0]).sum())
    into = [bytearray(size), bytearray(size)]
    compiled.gather(data, places, into[0])
    pure_splitter.gather(data, places, into[1])
    assert into[0] == into[1] and len(into[0]) > 100_000


def test_both_refuse_what_does_not_fit(compiled: ModuleType) -> None:
    offsets = np.array([0, 5], np.int64).tobytes()
    for module in (compiled, pure_splitter):
        with pytest.raises(ValueError, match="do not match"):
            module.spans(offsets, b"abc", np.array([0], np.int64).tobytes(), b"\x08" + bytes(7))
        with pytest.raises(ValueError, match="not UTF-8"):
            module.spans(
                offsets, b"ab\xffcd", np.array([0], np.int64).tobytes(), b"\x08" + bytes(7)
            )
        with pytest.raises(ValueError, match="do not fit"):
            module.gather(b"abc", np.array([0, 4], np.int64).tobytes(), bytearray(4))


def test_white_space_is_what_python_calls_white_space() -> None:
    """The pure rule's table of white space: every code point `str.isspace` takes, none other."""
    spaces = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert pure_splitter._SPACES.tolist() == spaces
