"""A JSONL corpus whose values read are all text, parsed by DuckDB a batch at a time.

DuckDB parses a JSONL file on every core without a Python object per value: a third of the
CPU of parsing it with orjson (`corpus.jsonl`). Each value read is taken as JSON, not as a
column type DuckDB infers, so nothing is converted: a text is read as written, an integer
id as its digits. Whatever the exact reader might read otherwise is given back to it by
raising `NotPlain` before anything is kept:

- a value other than text or null (an integer id is read as its digits, as the exact
  reader reads it);
- a row with none of the values read (`null` lines, which DuckDB reads as such a row, and
  objects without them: the exact reader says what they are);
- a column never seen (the exact reader names the columns the file has);
- a line DuckDB cannot read (the exact reader names the line), a key given twice, a byte
  order mark, or an encoding other than UTF-8.

DuckDB is laxer than orjson in keys the corpus does not read: `NaN`, `Infinity`, trailing
commas and any depth of nesting there do not refuse the file.
"""

import codecs
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embed_assets.errors import EmbedAssetsError
from embed_assets.sql_text import sql_identifier, sql_literal

# DuckDB's memory while it parses (it streams the file; a batch is handed over at a time)
PARSE_MEMORY = "256MB"
_TEXT = pa.array(["VARCHAR"])
_TEXT_OR_INTEGER = pa.array(["VARCHAR", "BIGINT", "UBIGINT"])
_INTEGERS = pa.array(["BIGINT", "UBIGINT"])


class NotPlain(EmbedAssetsError):
    """The file holds something only the exact reader reads as it should; read it that way.

    Never reaches a user: `corpus.streams` reads the file exactly instead.
    """


def may_be_plain(path: Path, encoding: str) -> bool:
    """Whether the plain reader may try the file: UTF-8 without a byte order mark."""
    if codecs.lookup(encoding).name != "utf-8":
        return False
    with path.open("rb") as stream:
        return not stream.read(3).startswith(codecs.BOM_UTF8)


def plain_frames(
    path: Path, names: list[str], *, id_column: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """The file's rows, `batch_rows` at a time, as the columns named (text, or ids' digits).

    The frames are those `corpus.jsonl.jsonl_frames` gives for such a file: Arrow text
    columns, and an id column of Python objects (text and integers) where a batch holds an
    integer id.

    Raises:
        NotPlain: the file holds something the exact reader must read (module docstring).
    """
    quoted = [sql_identifier(name) for name in names]
    schema = ", ".join(f"{sql_literal(name)}: 'JSON'" for name in names)
    selected = ", ".join(f"json_type({q}), {q} ->> '$'" for q in quoted)
    connection = duckdb.connect(config={"memory_limit": PARSE_MEMORY})
    seen: set[str] = set()
    try:
        relation = connection.sql(
            f"SELECT {selected} FROM read_json($path, format = 'newline_delimited', "
            f"columns = {{{schema}}})",
            params={"path": str(path)},
        )
        # `to_arrow_reader` since DuckDB 1.4; `fetch_arrow_reader`, deprecated there, before
        reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        for batch in reader(batch_rows):
            yield _frame(batch, names, id_column, seen)
    except duckdb.Error as error:
        raise NotPlain(str(error).strip().splitlines()[0]) from None
    finally:
        connection.close()
    if seen != set(names):
        raise NotPlain(f"no value of {sorted(set(names) - seen)}")


def _frame(batch: pa.RecordBatch, names: list[str], id_column: str, seen: set[str]) -> pd.DataFrame:
    """One batch's columns, checked to be what the exact reader reads the same way."""
    columns: dict[str, pd.Series] = {}
    none: pa.Array | None = None  # rows with no value read so far
    for at, name in enumerate(names):
        kinds, values = batch.column(2 * at), batch.column(2 * at + 1).cast(pa.string())
        allowed = _TEXT_OR_INTEGER if name == id_column else _TEXT
        if not pc.all(pc.or_kleene(pc.is_null(kinds), pc.is_in(kinds, allowed))).as_py():
            raise NotPlain(f"a value of {name!r} is not text")
        present = pc.is_valid(values)
        absent = pc.invert(present)
        none = absent if none is None else pc.and_(none, absent)
        if pc.any(present).as_py():
            seen.add(name)
        integers = pc.is_in(kinds, _INTEGERS) if name == id_column else None
        if integers is not None and pc.any(integers).as_py():
            column = [
                int(value) if integer else value
                for value, integer in zip(values.to_pylist(), integers.to_pylist(), strict=True)
            ]
            columns[name] = pd.Series(column, dtype=object)
        else:
            columns[name] = pd.Series(pd.arrays.ArrowExtensionArray(values), copy=False)
    if none is not None and pc.any(none).as_py():
        raise NotPlain("a row holds none of the values read")
    return pd.DataFrame(columns)
