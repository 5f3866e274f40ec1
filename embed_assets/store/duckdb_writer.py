"""Writing to a DuckDB table: upserts of Arrow rows, and prediction files landed by one statement.

A prediction file of the legacy schema (`instance`, `predictions`, `status`) is landed with
one `INSERT ... SELECT ... FROM read_json(...)` joined to the submitted rows by content hash:
DuckDB parses the vectors on every core straight into the table, and no vector passes through
Python. Parsing into Arrow, checking the vectors in numpy and inserting the Arrow rows took
6.8 s where this takes 6.0 s (100,000 lines of 768 values in 10 files, 2 cores), and held
each file's vectors in the process. Anything the statement does not expect (a failed or unknown row, a vector of another
length, a line it cannot read) rolls the file back, and the caller lands it through the
line parser, which names every row's outcome.
"""

import re
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from embed_assets.predictions.columns import LEGACY_JSON_COLUMNS, NO_STATUS_TEXTS, read_json_columns
from embed_assets.store.base import POSITION_COLUMNS, ROW_SCHEMA, FileLanding, with_row_defaults

ROW_COLUMNS = ", ".join(ROW_SCHEMA.names)
_WANTED = "embed_assets_wanted"
_LEGACY_COLUMNS = read_json_columns(LEGACY_JSON_COLUMNS)
# the status texts that mean "no error", as `predictions.columns` reads them
_BLANK = "(" + ", ".join(f"'{text}'" for text in NO_STATUS_TEXTS) + ")"
# Every line lands or the statement fails: a line that failed, has a vector of another
# length, or one that is not finite or all zeros raises `error()`, and one that nobody
# submitted gets a NULL id (NOT NULL). The vectors pass through untouched (a CASE around them
# would copy every list).
_LAND_SQL = f"""
INSERT INTO <table> ({ROW_COLUMNS})
SELECT w.id, p.content_hash, p.vector, ?, p.token_count, ?, p.truncated,
    {", ".join(f"w.{name}" for name in POSITION_COLUMNS)}
FROM (
    SELECT sha256(? || coalesce(instance.title, '') || chr(31) || coalesce(instance.content, ''))
            AS content_hash,
        predictions[1].embeddings."values" AS vector,
        coalesce(predictions[1].embeddings.statistics.token_count, 0) AS token_count,
        coalesce(predictions[1].embeddings.statistics.truncated, false) AS truncated,
        status, error
    FROM read_json(?, columns={_LEGACY_COLUMNS}, format='newline_delimited')
) p
LEFT JOIN {_WANTED} w USING (content_hash)
WHERE CASE WHEN coalesce(p.status::VARCHAR, 'null') IN {_BLANK}
        AND coalesce(p.error::VARCHAR, 'null') IN {_BLANK}
        AND len(p.vector) = ?
        AND isfinite(list_inner_product(p.vector, p.vector))
        AND list_inner_product(p.vector, p.vector) > 0
    THEN true ELSE error('a line that does not land') END
RETURNING id, content_hash, token_count
"""
# While files land, commits append to the WAL and the table is checkpointed every 256 MB of
# it (the default, 16 MB, checkpointed after every file: as costly again as parsing them),
# and DuckDB works in at most 256 MB (more only made its peak higher, not the landing faster).
CHECKPOINT_THRESHOLD = "256MB"
LANDING_MEMORY_LIMIT = "256MB"
# DuckDB's float compressions, which a writer turns off: embedding values do not compress
# (ALPRD stored 120,000 MiniLM vectors in 187 MB, plain 184 MB) and trying them cost a
# checkpoint 0.7 s per 300 MB of vectors. DuckDB chooses per segment, so rows written
# compressed before stay readable as they are.
FLOAT_COMPRESSIONS = ("alp", "alprd")
_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def limit_bytes(limit: str) -> float | None:
    """Bytes of a DuckDB memory size such as `512MB` or `1.5 GiB`; None if not understood."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", limit)
    if not found or found.group(2).lower() not in _UNITS:
        return None
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


class DuckDBWriter:
    """One connection's writes to a table: `writer(rows)` upserts, `land_file` lands a file.

    A `store.base.FileWriter`: the lifecycle lands legacy prediction files through it by SQL.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, *, memory_limit: str) -> None:
        """Writes to `table` through `con`, whose DuckDB memory limit is `memory_limit`.

        Until `finish`, the database stores floats uncompressed (`FLOAT_COMPRESSIONS`).
        """
        self.con, self.table, self.memory_limit = con, table, memory_limit
        self._expecting = False
        (disabled,) = con.execute(
            "SELECT current_setting('disabled_compression_methods')"
        ).fetchall()[0]
        self._disabled = str(disabled or "")
        methods = {m.strip() for m in self._disabled.split(",") if m.strip()}
        methods.update(FLOAT_COMPRESSIONS)
        con.execute(f"SET disabled_compression_methods = '{','.join(sorted(methods))}'")

    def __call__(self, rows: pa.Table) -> int:
        """Replaces the rows of the ids in `rows` and inserts the new ones, in one transaction."""
        if rows.num_rows == 0:
            return 0
        con, table = self.con, self.table
        con.register("incoming", with_row_defaults(rows))
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM incoming)")
        con.execute(f"INSERT INTO {table} ({ROW_COLUMNS}) SELECT {ROW_COLUMNS} FROM incoming")
        con.execute("COMMIT")
        con.unregister("incoming")
        return rows.num_rows

    def expect(self, wanted: pa.Table) -> None:
        """Sets the rows prediction files are landed for (`id, content_hash` and positions)."""
        self.con.register("embed_assets_wanted_rows", wanted)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_WANTED} AS SELECT * FROM embed_assets_wanted_rows"
        )
        self.con.unregister("embed_assets_wanted_rows")
        self.con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        store_limit = limit_bytes(self.memory_limit)
        if store_limit is None or store_limit > (limit_bytes(LANDING_MEMORY_LIMIT) or 0):
            self.con.execute(f"SET memory_limit = '{LANDING_MEMORY_LIMIT}'")
        self._expecting = True

    def finish(self) -> None:
        """Checkpoints what was written and sets the settings back (the store's defaults)."""
        if self._expecting:
            self.con.execute("RESET checkpoint_threshold")
            self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
        # another transaction open refuses it: then the next checkpoint does it
        with suppress(duckdb.Error):
            self.con.execute("CHECKPOINT")
        self.con.execute(f"SET disabled_compression_methods = '{self._disabled}'")

    def land_file(
        self, path: Path, *, hash_prefix: str, model: str, dimension: int
    ) -> FileLanding | None:
        """Lands a legacy prediction file in one transaction, if every line lands.

        Returns:
            None (nothing written) when a line does not land: the file is then for the line
            parser, which tells each row's outcome.
        """
        if not self._expecting:
            return None
        con, table = self.con, self.table
        con.execute("BEGIN")
        try:
            # newer than every row: the rows this file replaces are told apart by it
            (latest,) = con.execute(f"SELECT max(embedded_at) FROM {table}").fetchone() or (None,)
            now = datetime.now(UTC)
            landed_at = max(now, latest + timedelta(microseconds=1)) if latest else now
            returned = con.execute(
                _LAND_SQL.replace("<table>", table),
                [model, landed_at, hash_prefix, str(path), dimension],
            ).fetchall()
        except duckdb.Error:  # a line that does not land, not the legacy schema, bad JSON
            con.execute("ROLLBACK")
            return None
        tokens = {content_hash: count for _, content_hash, count in returned}
        if len({row[0] for row in returned}) != len(returned):  # a line repeats: ids twice
            con.execute("ROLLBACK")
            return None
        self._replace_older(list(tokens), landed_at)
        con.execute("COMMIT")
        return FileLanding(written=len(returned), tokens=sum(tokens.values()), landed=list(tokens))

    def _replace_older(self, hashes: Sequence[str], landed_at: datetime) -> None:
        """Deletes the rows of the landed ids written before this file (inside its transaction)."""
        self.con.register("embed_assets_landed", pa.table({"content_hash": pa.array(hashes)}))
        self.con.execute(
            f"DELETE FROM {self.table} WHERE embedded_at < ? AND id IN (SELECT w.id FROM "
            f"{_WANTED} w JOIN embed_assets_landed USING (content_hash))",
            [landed_at],
        )
        self.con.unregister("embed_assets_landed")
