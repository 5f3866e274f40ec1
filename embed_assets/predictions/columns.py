"""Prediction rows as Arrow columns -> a `PredictionBatch` (vectors laid into one matrix).

Both typed readers end here: DuckDB's `read_json` over a JSONL file, and DuckDB over the pages
of a BigQuery prediction table. The table has `key, content, title, task_type, vector,
token_count, truncated` and the JSON texts `status` and `error`.
"""

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from embed_assets.predictions.lines import PredictionBatch, status_text

# JSON texts of a status that means "no error"
NO_STATUS_TEXTS = ('""', "null", "{}", "false")
_NO_STATUS = pa.array(NO_STATUS_TEXTS, type=pa.string())
_STATISTICS = "STRUCT(token_count BIGINT, truncated BOOLEAN)"
# the columns of a prediction file as DuckDB's `read_json` is told to type them
LEGACY_JSON_COLUMNS = {
    "instance": "STRUCT(key VARCHAR, content VARCHAR, title VARCHAR, task_type VARCHAR)",
    "predictions": f'STRUCT(embeddings STRUCT(statistics {_STATISTICS}, "values" FLOAT[]))[]',
    "status": "JSON",
    "error": "JSON",
}
GEMINI_JSON_COLUMNS = {
    "key": "VARCHAR",
    "request": "STRUCT(content STRUCT(parts STRUCT(text VARCHAR)[]), "
    "embed_content_config STRUCT(task_type VARCHAR, title VARCHAR))",
    "response": f'STRUCT(embedding STRUCT("values" FLOAT[], statistics {_STATISTICS}), '
    '"usageMetadata" STRUCT("promptTokenCount" BIGINT), "tokenCount" BIGINT, truncated BOOLEAN)',
    "status": "JSON",
    "error": "JSON",
}


def read_json_columns(columns: dict[str, str]) -> str:
    """The `columns={...}` argument of DuckDB's `read_json` for these column types."""
    return "{" + ", ".join(f"{name!r}: {kind!r}" for name, kind in columns.items()) + "}"


def _statuses(table: pa.Table) -> list[str]:
    """Turns the `status` / `error` JSON columns into the text `status_text` gives."""
    status, error = table.column("status"), table.column("error")
    blank_status = pc.or_kleene(pc.is_null(status), pc.is_in(status, _NO_STATUS))
    blank_error = pc.or_kleene(pc.is_null(error), pc.is_in(error, _NO_STATUS))
    blank = pc.and_(blank_status, blank_error).to_numpy(zero_copy_only=False)
    statuses = [""] * table.num_rows
    if blank.all():
        return statuses
    status_texts = status.to_pylist()
    error_texts = error.to_pylist()
    for row in np.flatnonzero(~blank):
        # the line parser reads `status or error`: a blank status gives way to the error
        status_raw = status_texts[row]
        blank_raw = status_raw is None or status_raw in NO_STATUS_TEXTS
        statuses[row] = status_text(orjson.loads(error_texts[row] if blank_raw else status_raw))
    return statuses


def batch_from_table(table: pa.Table) -> PredictionBatch | None:
    """Returns the batch, or None when the rows hold something a typed read cannot take."""
    statuses = _statuses(table)
    ok = np.fromiter((not s for s in statuses), dtype=np.bool_, count=len(statuses))
    vectors_column = table.column("vector").combine_chunks()
    lengths = pc.list_value_length(vectors_column).to_numpy(zero_copy_only=False)
    if np.isnan(lengths[ok].astype(np.float64)).any():
        return None  # a successful row without values: let the line parser decide what it is
    good_lengths = lengths[ok].astype(np.int64)
    dimension = int(good_lengths[0]) if good_lengths.size else 0
    if (good_lengths != dimension).any():
        return None  # mixed lengths: the line parser names the offending line
    vectors = _matrix(vectors_column, ok, dimension)
    return PredictionBatch(
        keys=table.column("key").to_pylist(),
        contents=table.column("content").to_pylist(),
        titles=table.column("title").to_pylist(),
        task_types=table.column("task_type").to_pylist(),
        vectors=vectors,
        token_counts=table.column("token_count").to_numpy().astype(np.int64),
        truncated=table.column("truncated").to_numpy(zero_copy_only=False).astype(np.bool_),
        statuses=statuses,
    )


def _matrix(
    column: pa.ListArray, ok: npt.NDArray[np.bool_], dimension: int
) -> npt.NDArray[np.float32]:
    """Lays the successful rows' vectors into a float32 matrix; failed rows stay zero."""
    if ok.all():
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(flat, dtype=np.float32).reshape(len(ok), dimension)
    vectors = np.zeros((len(ok), dimension), dtype=np.float32)
    if ok.any():
        chosen = column.filter(pa.array(ok))
        flat = chosen.flatten().to_numpy(zero_copy_only=False)
        vectors[ok] = flat.reshape(int(ok.sum()), dimension)
    return vectors
