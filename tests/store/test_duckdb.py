"""What only the DuckDB store does: wait for a file another process holds."""

from pathlib import Path

import pytest

from embed_assets import DuckDBEmbeddingStore
from tests.store.test_stores import rows


def _hold(path: Path, seconds: float):  # type: ignore[no-untyped-def]
    """Another process holding the database file open for `seconds`; returns once it holds it."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(path), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_file_another_process_holds_briefly_is_waited_for(tmp_path: Path) -> None:
    """DuckDB lets one process at a time open the file: a short hold is waited out."""
    path = tmp_path / "e.duckdb"
    store = DuckDBEmbeddingStore(path=str(path), busy_timeout_seconds=30)
    store.upsert("p", rows(["a"], ["h1"], [[1, 0]]))
    holder = _hold(path, 1.5)
    assert store.read("p")["id"].tolist() == ["a"]
    holder.wait(timeout=30)


def test_a_file_held_too_long_is_one_line_naming_the_process(tmp_path: Path) -> None:
    from embed_assets.store.duckdb import StoreBusy

    path = tmp_path / "e.duckdb"
    store = DuckDBEmbeddingStore(path=str(path), busy_timeout_seconds=0.5)
    store.upsert("p", rows(["a"], ["h1"], [[1, 0]]))
    holder = _hold(path, 30)
    try:
        with pytest.raises(StoreBusy, match=rf"is in use by process {holder.pid} \(waited"):
            store.read("p")
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_file_with_the_former_failures_table_name_keeps_its_failed_rows(tmp_path: Path) -> None:
    """Files before 0.2 kept failed rows in `docs#failures`; they are `_failures__docs` now."""
    import duckdb

    path = tmp_path / "e.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            'CREATE TABLE "docs#failures" (id VARCHAR, content_hash VARCHAR, reason VARCHAR, '
            "recorded_at TIMESTAMPTZ)"
        )
        con.execute("""INSERT INTO "docs#failures" VALUES ('a', 'h', 'too long', now())""")
    store = DuckDBEmbeddingStore(path=str(path))
    assert store.failures("docs")[["id", "reason"]].values.tolist() == [["a", "too long"]]
    with duckdb.connect(str(path)) as con:
        listed = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    names = {row[0] for row in listed}
    assert "_failures__docs" in names and "docs#failures" not in names
