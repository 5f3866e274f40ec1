"""Content hashes in compiled code, with the SHA-256 that Python's hashlib uses.

`corpus.hashing.hash_column` defines a content hash as the hex SHA-256 of
`prefix || title || 0x1F || text`. DuckDB's `sha256` computes it in software; OpenSSL's
libcrypto, which hashlib loads anyway, uses the CPU's SHA instructions and is several times
faster. `_digest.sha256_hex` calls libcrypto's `SHA256` by address (found in the library
hashlib loaded, and checked against hashlib before first use) on every core without the GIL.
Where no libcrypto is found, `sha256_hex_column` returns None and DuckDB hashes.
"""

import ctypes
import ctypes.util
import functools
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from embed_assets.corpus import _digest
from embed_assets.corpus.chunking import arrow_chunks, utf8_buffers

# rows hashed by one call: small enough that every core gets work, large enough to be cheap
ROWS_PER_CALL = 65_536


@functools.cache
def sha256_function() -> int | None:
    """The address of libcrypto's `SHA256(data, length, digest)`, or None where there is none."""
    for path in _libcrypto_paths():
        try:
            function = ctypes.CDLL(path).SHA256
        except (OSError, AttributeError):
            continue
        address = ctypes.cast(function, ctypes.c_void_p).value
        if address and _agrees_with_hashlib(address):
            return address
    return None


def _libcrypto_paths() -> Iterator[str]:
    """The libcrypto that hashlib loaded (Linux), then the one the linker finds."""
    try:
        import _hashlib  # noqa: F401  (loads the libcrypto that hashlib uses)

        with open("/proc/self/maps") as maps:
            yield from dict.fromkeys(line.split()[-1] for line in maps if "libcrypto" in line)
    except (ImportError, OSError):  # a Python without OpenSSL, or not Linux
        pass
    found = ctypes.util.find_library("crypto")
    if found:
        yield found


def _agrees_with_hashlib(address: int) -> bool:
    prefix, title, text = b"model\x1f", "título".encode(), b"some text"
    into = bytearray(64)
    offsets = np.array([0, len(text)], dtype=np.int64)
    title_offsets = np.array([0, len(title)], dtype=np.int64)
    _digest.sha256_hex(address, prefix, offsets.data, text, title_offsets.data, title, 0, 1, into)
    return into.decode() == hashlib.sha256(prefix + title + b"\x1f" + text).hexdigest()


def sha256_hex_column(
    prefix: str,
    contents: pa.Array | pa.ChunkedArray,
    titles: pa.Array | pa.ChunkedArray,
    valid: npt.NDArray[np.bool_],
) -> pa.Array | None:
    """Each row's hex SHA-256 of `prefix || title || 0x1F || content`, null where not `valid`.

    A missing title counts as an empty one. Returns None when no libcrypto is found.
    """
    function = sha256_function()
    if function is None:
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
        for done in [pool.submit(_digest.sha256_hex, function, *c, out) for c, out in calls]:
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
