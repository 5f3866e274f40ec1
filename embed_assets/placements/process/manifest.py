"""A submission's manifest file, read by DuckDB so landing holds only the rows it lands.

The manifest has a row for every corpus row (`placements.process.plan.write_manifest`): at 5,000,000 rows,
reading it whole, with the table's keys beside it, took 4 GB. Landing reads into the process
only the rows it submitted or reuses; what it keeps, deletes and counts over the rest are
statements over the file, in bounded memory, spilling to the landing's folder.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from embed_assets.jobs.rows import PLAN_REJECTED
from embed_assets.placements.process.plan import plan_connection
from embed_assets.sql_text import sql_path


@dataclass(frozen=True)
class ManifestCounts:
    """The manifest's rows: all of them, and those rejected by validation."""

    corpus_rows: int
    rejected_rows: int


def manifest_rows(manifest: Path, plan: str, *, folder: Path) -> pd.DataFrame:
    """The rows of one plan (`submit`, `reuse`): a change's worth, never every row.

    DuckDB scans the file and keeps the matching rows, in the file's order (Arrow's filtered
    read held the whole file's columns first: 670 MB at 5,000,000 rows).
    """
    connection = plan_connection(folder / "spill", ordered=True)
    try:
        table = connection.sql(
            f"SELECT * FROM read_parquet({sql_path(manifest)}) WHERE plan = $plan",
            params={"plan": plan},
        ).to_arrow_table()
    finally:
        connection.close()
    return table.to_pandas()


def write_kept_pairs(
    manifest: Path, *, failed_hashes: list[str], path: Path, folder: Path
) -> ManifestCounts:
    """Writes `id, content_hash` of the rows the table keeps: accepted, and not failed.

    Args:
        manifest: the submission's manifest file.
        failed_hashes: the content hashes that failed in this landing.
        path: the Parquet file to write.
        folder: where DuckDB may spill.

    Returns:
        The counts of the manifest's rows.
    """
    connection = plan_connection(folder / "spill")
    try:
        connection.register(
            "failed", pa.table({"content_hash": pa.array(failed_hashes, pa.string())})
        )
        source = f"read_parquet({sql_path(manifest)})"
        connection.execute(
            f"COPY (SELECT m.id, m.content_hash FROM {source} m ANTI JOIN "
            "(SELECT DISTINCT content_hash FROM failed) f ON f.content_hash = m.content_hash "
            f"WHERE m.plan <> '{PLAN_REJECTED}') TO {sql_path(path)} (FORMAT parquet)"
        )
        counted = connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE plan = '{PLAN_REJECTED}') FROM {source}"
        ).fetchall()
    finally:
        connection.close()
    corpus_rows, rejected_rows = counted[0]
    return ManifestCounts(corpus_rows=int(corpus_rows), rejected_rows=int(rejected_rows))


def count_stored_pairs(kept: Path, stored: Path, *, folder: Path) -> int:
    """How many rows of `kept` have their `(id, content_hash)` among the `stored` keys.

    The pairs are matched by DuckDB's 64-bit `hash` of each string, as the plan's diff matches
    them (`placements.process.plan`): the strings of 1,000,000 pairs did not fit the memory limit. A false
    count needs a row's id and hash to both share a 64-bit hash with a stored pair's.
    """
    connection = plan_connection(folder / "spill")
    try:
        counted = connection.execute(
            f"SELECT count(*) FROM read_parquet({sql_path(kept)}) k SEMI JOIN "
            "(SELECT DISTINCT hash(id) AS id_key, hash(content_hash) AS hash_key "
            f"FROM read_parquet({sql_path(stored)})) s "
            "ON s.id_key = hash(k.id) AND s.hash_key = hash(k.content_hash)"
        ).fetchall()
    finally:
        connection.close()
    return int(counted[0][0])
