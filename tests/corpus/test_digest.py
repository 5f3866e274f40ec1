"""Content hashes in compiled code are the hashes hashlib and DuckDB give, byte for byte.

DuckDB's `sha256` is the pure-Python installation's path; the extension hashes with the CPU's
SHA instructions where it has them, else in portable C: each is held to hashlib here.
"""

import hashlib
import importlib
import random
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import embed_assets.corpus.digest as digest
from embed_assets.corpus.hashing import hash_column, hash_prefix

pytestmark = pytest.mark.timeout(60)

ALPHABET = "ab é中😀 \n\t\x1f"


def _texts(count: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    return [
        None
        if rng.random() < 0.05
        else "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 400)))
        for _ in range(count)
    ]


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The extension (CI builds it), in a fresh state: the CPU's SHA instructions if it has them."""
    module = importlib.import_module("embed_assets.corpus._digest")
    module.use_portable(False)
    monkeypatch.setattr(digest, "compiled_digest", lambda: module)
    yield module
    module.use_portable(False)


@pytest.mark.parametrize("engine", ["as built", "portable C"])
@pytest.mark.parametrize("layout", ["python", "arrow chunks"])
def test_compiled_hashes_are_hashlib_s_and_duckdb_s(
    compiled: ModuleType, engine: str, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "portable C":
        assert compiled.use_portable() == "portable C"
    assert digest._agrees_with_hashlib(compiled)
    texts = _texts(3000, seed=1)
    rng = random.Random(2)
    titles = [rng.choice([None, "", "T", "Título ✓"]) for _ in texts]
    mask = np.array([rng.random() > 0.1 for _ in texts])
    contents = (
        pd.Series(texts, dtype=object)
        if layout == "python"
        else pd.Series(
            pd.arrays.ArrowExtensionArray(
                pa.chunked_array(
                    [
                        pa.array(texts[:1000], pa.large_string()),
                        pa.array(texts[1000:], pa.large_string()),
                    ],
                    pa.large_string(),
                )
            )
        )
    )
    options = {"model": "m", "task_type": "RETRIEVAL_DOCUMENT", "output_dimensionality": 3}
    monkeypatch.setattr(digest, "ROWS_PER_CALL", 700)  # several calls per Arrow chunk
    compiled = hash_column(contents, pd.Series(titles, dtype=object), mask=mask, **options)
    prefix = hash_prefix(**options).encode()
    expected = [
        hashlib.sha256(prefix + (title or "").encode() + b"\x1f" + text.encode()).hexdigest()
        if ok and text is not None
        else None
        for text, title, ok in zip(texts, titles, mask, strict=True)
    ]
    assert compiled.to_pylist() == expected
    monkeypatch.setattr(digest, "compiled_digest", lambda: None)  # DuckDB's sha256 instead
    duckdb = hash_column(contents, pd.Series(titles, dtype=object), mask=mask, **options)
    assert duckdb.to_pylist() == expected
