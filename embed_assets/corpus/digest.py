"""Content hashes in compiled code, when the package was built with its extension.

`corpus.hashing.hash_column` defines a content hash as the hex SHA-256 of
`prefix || title || 0x1F || text`. The extension `_digest` computes it on every core without
the GIL, reading the texts where Arrow holds them, with its own SHA-256 (the CPU's SHA
instructions where it has them). Before first use its output is checked against hashlib on
texts that cross every block boundary; where the extension is missing or disagrees,
`sha256_hex_column` returns None and DuckDB hashes (the same hashes).
"""

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from embed_assets.corpus.accelerator import Digest, compiled_module
from embed_assets.corpus.arrow_text import arrow_chunks, utf8_buffers

# rows hashed by one call: small enough that every core gets work, large enough to be cheap
ROWS_PER_CALL = 65_536


@functools.cache
def compiled_digest() -> Digest | None:
    """The `_digest` extension, once it has given hashlib's hashes; None where it has not."""
    found = compiled_module("_digest")
    if found is None:
        return None
    module = cast(Digest, found)
    if _agrees_with_hashlib(module):
        return module
    module.use_portable()  # the CPU's SHA instructions disagreed: plain C, checked again
    return module if _agrees_with_hashlib(module) else None


def _agrees_with_hashlib(module: Digest) -> bool:
    """Texts of 0 to 300 bytes (every padding case, one to six blocks), with titles."""
    prefix = b"model\x1f"
    texts = [bytes(range(33, 33 + n % 90)) * (1 + n // 90) for n in range(300)]
    titles = [("título" * (n % 4)).encode() for n in range(300)]
    offsets = np.cumsum([0, *map(len, texts)], dtype=np.int64)
    title_offsets = np.cumsum([0, *map(len, titles)], dtype=np.int64)
    into = bytearray(64 * len(texts))
    module.sha256_hex(
        prefix, offsets.data, b"".join(texts), title_offsets.data, b"".join(titles), 0,
        len(texts), into,
    )  # fmt: skip
    expected = b"".join(
        hashlib.sha256(prefix + title + b"\x1f" + text).hexdigest().encode()
        for text, title in zip(texts, titles, strict=True)
    )
    return bytes(into) == expected


def sha256_hex_column(
    prefix: str,
    contents: pa.Array | pa.ChunkedArray,
    titles: pa.Array | pa.ChunkedArray,
    valid: npt.NDArray[np.bool_],
) -> pa.Array | None:
    """Each row's hex SHA-256 of `prefix || title || 0x1F || content`, null where not `valid`.

    A missing title counts as an empty one. Returns None without the compiled extension.
    """
    module = compiled_digest()
    if module is None:
        return None
    count = len(contents)
    into = np.empty(count * 64, dtype=np.uint8)
    head = prefix.encode()
    calls = []
    first = 0
    for chunk in arrow_chunks(contents):
        offsets, data = utf8_buffers(chunk)
        title_offsets, title_data = _title_buffers(titles.slice(first, len(chunk)))
        for start in range(0, len(chunk), ROWS_PER_CALL):
            stop = min(start + ROWS_PER_CALL, len(chunk))
            at = (first + start) * 64
            call = (head, offsets.data, data, title_offsets.data, title_data, start, stop)
            calls.append((call, into[at : at + (stop - start) * 64].data))
        first += len(chunk)
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, max(1, len(calls)))) as pool:
        for done in [pool.submit(module.sha256_hex, *c, out) for c, out in calls]:
            done.result()
    validity = valid & ~np.asarray(contents.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    width = pa.string() if count * 64 < 2**31 else pa.large_string()
    positions = np.arange(count + 1, dtype=np.int32 if width == pa.string() else np.int64) * 64
    return pa.Array.from_buffers(
        width,
        count,
        [_bitmap(validity), pa.py_buffer(positions), pa.py_buffer(into)],
    )


def _title_buffers(titles: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], pa.Buffer]:
    """Offsets and bytes of some titles; a null title is an empty one."""
    if titles.null_count == len(titles):
        return np.zeros(len(titles) + 1, dtype=np.int64), pa.py_buffer(b"")
    joined = titles.combine_chunks() if isinstance(titles, pa.ChunkedArray) else titles
    return utf8_buffers(joined.fill_null(""))


def _bitmap(validity: npt.NDArray[np.bool_]) -> pa.Buffer | None:
    if validity.all():
        return None
    return pa.py_buffer(np.packbits(validity, bitorder="little"))
