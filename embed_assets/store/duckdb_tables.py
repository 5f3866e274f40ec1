"""The tables of a DuckDB embedding store: their names, their DDL, the generations record.

Failed rows are in `_failures__<table>` (`_next_failures__<table>` for a generation being
built), as in every store (`store.base.generation_tables`); a generation being built lives
beside the live table as `<table>#next`, and the store's own bookkeeping tables carry a `#`,
which no pipeline's table name can hold. Files written before 0.2 named the failures tables
`<table>#failures` and `<table>#next#failures`: they are renamed when the store opens the file.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from embed_assets.sql_text import sql_path
from embed_assets.store.base import Generations, TableIdentity, generation_tables

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL,
    model VARCHAR NOT NULL,
    token_count INTEGER,
    embedded_at TIMESTAMPTZ NOT NULL,
    truncated BOOLEAN,
    document_id VARCHAR,
    chunk_index INTEGER,
    chunk_start BIGINT,
    chunk_end BIGINT
)
"""
# tables made before these columns were recorded gain them (NULL: not known)
ADDED_COLUMNS = {
    "truncated": "BOOLEAN",
    "document_id": "VARCHAR",
    "chunk_index": "INTEGER",
    "chunk_start": "BIGINT",
    "chunk_end": "BIGINT",
}
TABLE_MIGRATION = "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id VARCHAR, content_hash VARCHAR, reason VARCHAR, recorded_at TIMESTAMPTZ
)
"""

# Which pipeline owns each table, what its vectors are, and what the
# generation being built will hold (next_*, NULL when none is built).
OWNERS_TABLE = '"embed_assets#tables"'
OWNERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {OWNERS_TABLE} (
    table_name VARCHAR PRIMARY KEY,
    pipeline VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    dimension INTEGER NOT NULL,
    task_type VARCHAR,
    claimed_at TIMESTAMPTZ NOT NULL,
    next_model VARCHAR,
    next_dimension INTEGER,
    next_task_type VARCHAR,
    chunked BOOLEAN,
    next_chunked BOOLEAN
)
"""
# added after the first release: NULL in older records (`read_generations` tells from the rows)
OWNERS_ADDED_COLUMNS = {"chunked": "BOOLEAN", "next_chunked": "BOOLEAN"}

# batch jobs landed (or of no use), so no later refresh adopts their output again
CONSUMED_TABLE = '"embed_assets#consumed_jobs"'
CONSUMED_DDL = f"""
CREATE TABLE IF NOT EXISTS {CONSUMED_TABLE} (
    table_name VARCHAR NOT NULL,
    job_name VARCHAR NOT NULL,
    consumed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, job_name)
)
"""


@dataclass(frozen=True)
class Tables:
    """The quoted names of one generation's tables: its rows and its failed rows."""

    rows: str
    failures: str
    raw: str  # the rows table's name, unquoted, for information_schema


# DuckDB's memory while the stored keys are exported (`export_keys`) or matched
# (`delete_pairs_not_in`)
EXPORT_MEMORY_LIMIT = "128MB"


def live_tables(table: str) -> Tables:
    """The live generation's tables."""
    rows, failures = generation_tables(table, building=False)
    return Tables(rows=f'"{rows}"', failures=f'"{failures}"', raw=rows)


def next_tables(table: str) -> Tables:
    """The tables of the generation being built (its rows beside the live ones, `#next`)."""
    _, failures = generation_tables(table, building=True)
    return Tables(rows=f'"{table}#next"', failures=f'"{failures}"', raw=f"{table}#next")


# the failures tables' names before 0.2, by their suffix: (of the generation being built?)
_FORMER_SUFFIXES = {"failures": False, "next#failures": True}


def read_generations(con: duckdb.DuckDBPyConnection, table: str) -> Generations:
    """Reads the generations record of `table` (the owners table must exist)."""
    rows = con.execute(
        f"SELECT pipeline, model, dimension, task_type, next_model, next_dimension, "
        f"next_task_type, chunked, next_chunked FROM {OWNERS_TABLE} WHERE table_name = ?",
        [table],
    ).fetchall()
    if not rows:
        return Generations(serving=None)
    pipeline, model, dimension, task_type, next_model, next_dimension, next_task = rows[0][:7]
    chunked, next_chunked = rows[0][7:]
    if chunked is None:  # recorded before the flag was: the rows say
        chunked = holds_chunks(con, live_tables(table))
    serving = TableIdentity(pipeline, model, dimension, task_type, chunked)
    if next_model is None:
        return Generations(serving=serving)
    building = TableIdentity(pipeline, next_model, next_dimension, next_task, bool(next_chunked))
    return Generations(serving=serving, building=building)


def export_keys(
    con: duckdb.DuckDBPyConnection, rows: str, path: Path, *, memory_limit: str
) -> None:
    """Writes the table's `id, content_hash, chunk_start, chunk_end` to the Parquet file `path`.

    DuckDB streams the rows. It works within `EXPORT_MEMORY_LIMIT` meanwhile, then the
    connection's `memory_limit` again: the blocks it reads stay cached up to its limit, so
    under the store's 512 MB a table of 5,000,000 rows took 150 MB more than one of 1,000,000
    (64 MB made the export twice as slow).
    """
    con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
    try:
        con.execute(
            f"COPY (SELECT id, content_hash, chunk_start, chunk_end FROM {rows}) "
            f"TO {sql_path(path)} (FORMAT parquet)"
        )
    finally:
        con.execute(f"SET memory_limit = '{memory_limit}'")


def delete_pairs_not_in(
    con: duckdb.DuckDBPyConnection, rows: str, kept: pd.DataFrame | Path, *, memory_limit: str
) -> int:
    """Deletes the rows whose `(id, content_hash)` is not a row of `kept` (a Parquet file or a frame).

    An anti join on DuckDB's 64-bit `hash` of the id and of the content hash finds them,
    within `EXPORT_MEMORY_LIMIT` (then the connection's `memory_limit` again): the strings of
    5,000,000 pairs took the store's whole limit. A hash shared by chance can only keep a row
    that should go, never delete one that should stay.
    """
    if isinstance(kept, pd.DataFrame):
        con.register("embed_assets_kept", kept)
        source = "embed_assets_kept"
    else:
        source = f"read_parquet({sql_path(kept)})"
    con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
    try:
        (deleted,) = con.execute(
            f"DELETE FROM {rows} WHERE rowid IN (SELECT s.rowid FROM {rows} s ANTI JOIN "
            f"(SELECT hash(id) AS id_key, hash(content_hash) AS hash_key FROM {source}) k "
            "ON k.id_key = hash(s.id) AND k.hash_key = hash(s.content_hash))"
        ).fetchall()[0]
    finally:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return int(deleted)


def holds_chunks(con: duckdb.DuckDBPyConnection, tables: Tables) -> bool:
    """True when the generation's rows are chunks (False when it has none, or no table)."""
    columns = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
        "AND column_name = 'chunk_start'",
        [tables.raw],
    ).fetchall()[0][0]
    if not columns:
        return False
    found = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {tables.rows} WHERE chunk_start IS NOT NULL LIMIT 1)"
    ).fetchall()[0][0]
    return bool(found)


# the bookkeeping tables' names before 0.2, which a pipeline's table name could collide with
_FORMER_CATALOG = {
    "embed_assets_tables": (
        OWNERS_TABLE,
        "table_name, pipeline, model, dimension, task_type, claimed_at, NULL, NULL, NULL, "
        "NULL, NULL",
    ),
    "embed_assets_consumed_jobs": (CONSUMED_TABLE, "table_name, job_name, consumed_at"),
}


def create_catalog(con: duckdb.DuckDBPyConnection) -> None:
    """Creates the bookkeeping tables, moving records over from their former names."""
    con.execute(OWNERS_DDL)
    for column, kind in OWNERS_ADDED_COLUMNS.items():
        con.execute(TABLE_MIGRATION.format(table=OWNERS_TABLE, column=column, kind=kind))
    con.execute(CONSUMED_DDL)
    former = {
        str(row[0])
        for row in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'claimed_at' "
            "OR column_name = 'consumed_at'"
        ).fetchall()
    }
    for old, (new, columns) in _FORMER_CATALOG.items():
        if old in former:
            con.execute(f"INSERT OR IGNORE INTO {new} SELECT {columns} FROM {old}")
            con.execute(f"DROP TABLE {old}")
    _rename_former_tables(con)


def _rename_former_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Renames the failures tables of files written before 0.2 (`<table>#failures`)."""
    names = {
        str(row[0])
        for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    for name in sorted(names):
        if name.startswith("embed_assets#") or "#" not in name:
            continue
        table, _, suffix = name.partition("#")
        building = _FORMER_SUFFIXES.get(suffix)
        if building is None:
            continue
        new = generation_tables(table, building=building)[1]
        if new not in names:
            con.execute(f'ALTER TABLE "{name}" RENAME TO "{new}"')
