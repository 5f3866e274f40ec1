"""Content hashes: a digest of everything that changes a row's vector.

Every accepted row gets a `content_hash` of model, task type, dimensionality, title and text,
so the store can tell exactly what needs embedding again.
"""

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from embed_assets.corpus.digest import sha256_hex_column
from embed_assets.corpus.validation import ValidatedCorpus, is_string_dtype


def content_hashes(
    contents: "pd.Series | list[str] | list[str | None]",
    titles: "pd.Series | list[str | None]",
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
) -> list[str]:
    """Digests everything that changes a vector: model, task type, dimensionality, title, text.

    The digest is the hex SHA-256 of `model␟task_type␟dimensionality␟title␟text` (␟ is the
    unit separator, U+001F), computed by DuckDB on every core without a Python string per row.
    """
    return hash_column(
        contents,
        titles,
        model=model,
        task_type=task_type,
        output_dimensionality=output_dimensionality,
    ).to_pylist()


def hash_column(
    contents: "pd.Series | list[str] | list[str | None]",
    titles: "pd.Series | list[str | None]",
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    mask: npt.NDArray[np.bool_] | None = None,
) -> pa.Array:
    """`content_hashes` as an Arrow string array (no Python object per row).

    Rows where `mask` is False (or the content is missing) get a null hash.
    """
    prefix = hash_prefix(
        model=model, task_type=task_type, output_dimensionality=output_dimensionality
    )
    ok = np.ones(len(contents), dtype=bool) if mask is None else mask
    texts, heads = arrow_strings(contents), arrow_strings(titles)
    native = sha256_hex_column(prefix, texts, heads, ok)  # OpenSSL's SHA-256, every core
    if native is not None:
        return native
    table = pa.table({"content": texts, "title": heads, "ok": pa.array(ok)})
    connection = duckdb.connect()
    try:
        connection.register("texts", table)
        result = connection.sql(
            "SELECT CASE WHEN ok THEN sha256(? || coalesce(title, '') || chr(31) || content) "
            "END AS h FROM texts",
            params=[prefix],
        ).to_arrow_table()
    finally:
        connection.close()
    return result.column("h").combine_chunks() if result.num_rows else pa.array([], pa.string())


def hash_prefix(*, model: str, task_type: str | None, output_dimensionality: int | None) -> str:
    """`model␟task_type␟dimensionality␟`: what every content hash of a pipeline begins with."""
    return f"{model}\x1f{task_type or ''}\x1f{output_dimensionality or ''}\x1f"


def arrow_strings(
    values: "pd.Series | pa.Array | pa.ChunkedArray | list[str] | list[str | None]",
) -> pa.Array | pa.ChunkedArray:
    """Strings as Arrow (`string` or `large_string`), in place when they are Arrow already.

    A pandas Series backed by Arrow (`string[pyarrow]`, `ArrowDtype`) keeps its buffers and its
    chunks: a corpus's text column is not copied.
    """
    if isinstance(values, pd.Series) and _arrow_backed(values):
        values = pa.Table.from_pandas(values.to_frame("v"), preserve_index=False).column("v")
    if isinstance(values, pa.Array | pa.ChunkedArray):
        text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        return values if text else values.cast(pa.string())
    items = values.tolist() if isinstance(values, pd.Series) else list(values)
    return pa.array(items, type=pa.string())


def _arrow_backed(values: pd.Series) -> bool:
    dtype = values.dtype
    return isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    )


def normalized_corpus(
    validated: ValidatedCorpus,
    *,
    model: str,
    task_type: str | None,
    output_dimensionality: int | None,
    hashed: bool = True,
) -> pd.DataFrame:
    """Returns every source row, in source order, as `row, id, content, title, content_hash, reason`.

    Accepted rows have a `content_hash` and no `reason`; rejected rows the reverse. The text
    column is passed through, not copied, so a corpus costs its own size in memory once.
    With `hashed=False` no row is hashed (documents that are hashed as chunks instead).
    """
    rows = validated.rows
    ok = validated.ok
    contents = rows["content"]
    if not hashed:
        hashes = pa.nulls(len(rows), pa.string())
    else:
        if not is_string_dtype(contents):  # numbers, lists or structs in rejected rows: no hash
            contents = pd.Series(
                [v if good else None for v, good in zip(contents.tolist(), ok, strict=True)],
                dtype=object,
            )
        hashes = hash_column(
            contents,
            rows["title"],
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
            mask=ok,
        )
    return pd.DataFrame(
        {
            "row": np.arange(len(rows)),
            "id": rows["id"],
            "content": rows["content"],
            "title": rows["title"],
            "content_hash": pd.Series(
                pd.arrays.ArrowExtensionArray(hashes), index=rows.index, copy=False
            ),
            "reason": rows["reason"],
        }
    )
