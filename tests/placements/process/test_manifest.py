"""A submission's manifest read by DuckDB: the rows of one plan, the pairs kept, those stored."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.jobs.rows import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT, PLAN_UNCHANGED
from embed_assets.placements.process.manifest import (
    count_stored_pairs,
    manifest_rows,
    write_kept_pairs,
)


def _manifest(path: Path) -> Path:
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b", "c", "d", "e", None],
                "content_hash": ["h1", "h2", "h3", "h3", "h5", None],
                "plan": [
                    PLAN_UNCHANGED,
                    PLAN_SUBMIT,
                    PLAN_SUBMIT,
                    PLAN_REUSE,
                    PLAN_SUBMIT,
                    PLAN_REJECTED,
                ],
                "reason": [None, None, None, None, None, "missing id"],
                "shard": [-1, 0, 1, -1, 1, -1],
            }
        ),
        path,
        row_group_size=2,  # the rows of a plan come from several row groups
    )
    return path


def test_manifest_rows_are_the_rows_of_one_plan_with_every_column(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "manifest.parquet")
    submitted = manifest_rows(manifest, PLAN_SUBMIT, folder=tmp_path)
    assert sorted(submitted["id"]) == ["b", "c", "e"]
    assert list(submitted.columns) == ["id", "content_hash", "plan", "reason", "shard"]
    assert dict(zip(submitted["id"], submitted["shard"], strict=True)) == {"b": 0, "c": 1, "e": 1}
    assert manifest_rows(manifest, PLAN_REUSE, folder=tmp_path)["id"].tolist() == ["d"]


def test_the_kept_pairs_are_the_accepted_rows_less_those_whose_text_failed(
    tmp_path: Path,
) -> None:
    manifest, kept = _manifest(tmp_path / "manifest.parquet"), tmp_path / "kept.parquet"
    counts = write_kept_pairs(manifest, failed_hashes=["h5", "h5"], path=kept, folder=tmp_path)
    assert (counts.corpus_rows, counts.rejected_rows) == (6, 1)
    pairs = pq.read_table(kept).to_pylist()
    assert sorted((row["id"], row["content_hash"]) for row in pairs) == [
        ("a", "h1"),
        ("b", "h2"),
        ("c", "h3"),
        ("d", "h3"),
    ]
    write_kept_pairs(manifest, failed_hashes=[], path=kept, folder=tmp_path)
    assert pq.read_table(kept).num_rows == 5


def test_stored_pairs_are_counted_by_id_and_hash_together(tmp_path: Path) -> None:
    kept, stored = tmp_path / "kept.parquet", tmp_path / "stored.parquet"
    pq.write_table(
        pa.table({"id": ["a", "b", "c", "d"], "content_hash": ["h1", "h2", "h3", "h3"]}), kept
    )
    # b is stored with its old text, c twice (two chunks of one text), d not at all
    pq.write_table(
        pa.table({"id": ["a", "b", "c", "c"], "content_hash": ["h1", "old", "h3", "h3"]}), stored
    )
    assert count_stored_pairs(kept, stored, folder=tmp_path) == 2
