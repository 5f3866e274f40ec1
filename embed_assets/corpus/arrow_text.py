"""Arrow string arrays as their raw buffers: where compiled and pure-Python code read texts."""

import numpy as np
import numpy.typing as npt
import pyarrow as pa


def arrow_chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """The arrays an Arrow column is made of (an array is its own one)."""
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def utf8_buffers(array: pa.Array) -> tuple[npt.NDArray[np.int64], pa.Buffer]:
    """An Arrow string array's text offsets (as int64, one more than its length) and bytes."""
    _, offsets, data = array.buffers()
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    if offsets is None:  # an empty array
        return np.zeros(len(array) + 1, dtype=np.int64), pa.py_buffer(b"")
    positions = np.frombuffer(offsets, dtype=width)[array.offset : array.offset + len(array) + 1]
    return positions.astype(np.int64), data if data is not None else pa.py_buffer(b"")
