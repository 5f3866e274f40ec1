"""Prediction files landed into DuckDB by one statement, and what it hands to the line parser."""

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from embed_assets import DuckDBEmbeddingStore
from embed_assets.corpus.hashing import content_hashes, hash_prefix
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.placements.process.prediction_files import PredictionFiles
from embed_assets.staging.files import LocalStorage
from embed_assets.store.base import keys_and_positions
from embed_assets.store.duckdb_writer import DuckDBWriter

MODEL, TASK, DIMENSION = "text-embedding-005", "RETRIEVAL_DOCUMENT", 768
TARGET = SubmissionSettings(
    pipeline="docs", model=MODEL, task_type=TASK, output_dimensionality=None
)
PREFIX = hash_prefix(model=MODEL, task_type=TASK, output_dimensionality=None)


def _hash(text: str) -> str:
    return content_hashes([text], [None], model=MODEL, task_type=TASK, output_dimensionality=None)[
        0
    ]


def _vector(seed: int, dimension: int = DIMENSION) -> list[float]:
    values = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return [float(value) for value in values]


def _line(text: str, vector: list[float] | None, *, status: Any = "", tokens: int = 7) -> bytes:
    prediction = {"embeddings": {"statistics": {"token_count": tokens, "truncated": False}}}
    if vector is not None:
        prediction["embeddings"]["values"] = vector  # type: ignore[index]
    line = {"instance": {"content": text, "task_type": TASK}, "status": status}
    line["predictions"] = [prediction] if vector is not None else []
    return orjson.dumps(line)


def _manifest(rows: dict[str, str]) -> pd.DataFrame:
    """`id -> text` as the submitted rows (`id, content_hash`)."""
    return pd.DataFrame({"id": list(rows), "content_hash": [_hash(t) for t in rows.values()]})


def _stored(store: DuckDBEmbeddingStore) -> pd.DataFrame:
    return store.read("docs").sort_values("id").reset_index(drop=True)


TEXTS = {f"doc-{i}": f"text number {i}" for i in range(12)}
TEXTS["twin"] = TEXTS["doc-3"]  # one line lands two ids


def _good_file(path: Path, seed: int = 0) -> Path:
    texts = sorted(set(TEXTS.values()))
    path.write_bytes(b"\n".join(_line(t, _vector(seed + i)) for i, t in enumerate(texts)) + b"\n")
    return path


def test_a_file_whose_every_line_lands_is_written_by_one_statement(tmp_path: Path) -> None:
    """13 ids from 12 lines; landing new vectors for them again replaces, never duplicates."""
    store = DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
    store.upsert("docs", _rows_for({"other": "kept as it is"}, seed=99))
    with store.writer("docs") as write:
        assert isinstance(write, DuckDBWriter)
        write.expect(keys_and_positions(_manifest(TEXTS)))
        first = write.land_file(
            _good_file(tmp_path / "a.jsonl"), hash_prefix=PREFIX, model=MODEL, dimension=DIMENSION
        )
        assert first is not None and first.written == 13 and first.tokens == 12 * 7
        once = _stored(store)
        second = write.land_file(
            _good_file(tmp_path / "b.jsonl", seed=50),
            hash_prefix=PREFIX,
            model=MODEL,
            dimension=DIMENSION,
        )
        assert second is not None and second.written == 13
    stored = _stored(store)
    assert list(stored["id"]) == sorted([*TEXTS, "other"])  # each id once
    texts = sorted(set(TEXTS.values()))
    by_text = {t: _vector(50 + i) for i, t in enumerate(texts)}
    for row in stored.itertuples():
        if row.id == "other":
            assert np.allclose(row.embedding, _vector(99))
            continue
        assert row.content_hash == _hash(TEXTS[row.id])
        assert np.array_equal(np.asarray(row.embedding, np.float32), by_text[TEXTS[row.id]])
        assert row.token_count == 7 and row.model == MODEL and not row.truncated
    later = stored.set_index("id")["embedded_at"]
    assert (later.drop("other") > once.set_index("id")["embedded_at"].drop("other")).all()


def _rows_for(texts: dict[str, str], *, seed: int) -> Any:
    from embed_assets.store.base import embedding_rows

    return embedding_rows(
        ids=list(texts),
        content_hashes=[_hash(t) for t in texts.values()],
        vectors=np.asarray([_vector(seed)] * len(texts), dtype=np.float32),
        token_counts=[1] * len(texts),
        model=MODEL,
    )


UNUSUAL = {
    "failed": (_line("text number 4", None, status="Quota exceeded"), "Quota exceeded"),
    "error object": (
        _line("text number 4", None, status={"code": 3, "message": "too long"}),
        "too long",
    ),
    "shorter vector": (
        _line("text number 4", _vector(4, 10)),
        "vector has 10 values",
    ),
    "all zeros": (_line("text number 4", [0.0] * DIMENSION), "vector is all zeros"),
    "not JSON": (b'{"instance": {"content": "text number 4"', "is not valid JSON"),
    "unknown text": (_line("nobody sent this", _vector(4)), None),
    "repeated line": (_line("text number 5", _vector(5)), None),
    "longer vector": (_line("text number 4", _vector(4, 800)), "vector has 800 values"),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_a_file_with_a_line_that_does_not_land_goes_to_the_line_parser(
    tmp_path: Path, case: str
) -> None:
    """The statement writes nothing; the parser lands the rest and names the row's reason."""
    line, reason = UNUSUAL[case]
    texts = sorted(set(TEXTS.values()))
    lines = [_line(t, _vector(i)) for i, t in enumerate(texts) if t != "text number 4"]
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\n".join([*lines, line]) + b"\n")
    store = DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
    store.upsert("docs", _rows_for({"doc-0": "an older text"}, seed=1))
    with store.writer("docs") as write:
        assert isinstance(write, DuckDBWriter)
        write.expect(keys_and_positions(_manifest(TEXTS)))
        assert write.land_file(path, hash_prefix=PREFIX, model=MODEL, dimension=DIMENSION) is None
    assert list(_stored(store)["id"]) == ["doc-0"]  # rolled back: the older row stays
    assert _stored(store)["content_hash"].iloc[0] == _hash("an older text")

    landing = PredictionFiles(submission=TARGET, store=store, submitted=_manifest(TEXTS))
    list(landing.land_all(LocalStorage(str(tmp_path)), [str(path)]))
    stored = _stored(store)
    assert stored["id"].is_unique
    hashes = dict(zip(stored["id"], stored["content_hash"], strict=True))
    assert hashes == {name: _hash(TEXTS[name]) for name in hashes}  # doc-0's older row replaced
    landed_ids = set(stored["id"])
    assert landed_ids >= set(TEXTS) - {"doc-4"}
    failed = landing.failed_reason.get(_hash("text number 4"), "") + " ".join(landing.unreadable)
    if reason is not None:
        assert "doc-4" not in landed_ids and reason in failed


def test_a_writer_stores_floats_plain_and_gives_the_database_its_settings_back(
    tmp_path: Path,
) -> None:
    """Embedding values do not compress: a writer skips DuckDB's float compressions.

    The vectors read back exact; after the writer the database's own choice of disabled
    compressions (here `fsst`) is what it was.
    """
    import duckdb

    store = DuckDBEmbeddingStore(path=str(tmp_path / "e.duckdb"))
    store.upsert("docs", _rows_for({"other": "an earlier row"}, seed=99))
    with store.connect() as con:
        con.execute("SET disabled_compression_methods = 'fsst'")
        write = DuckDBWriter(con, store.table_ref("docs").rsplit(":", 1)[-1], memory_limit="256MB")
        write.expect(keys_and_positions(_manifest(TEXTS)))
        landed = write.land_file(
            _good_file(tmp_path / "a.jsonl"), hash_prefix=PREFIX, model=MODEL, dimension=DIMENSION
        )
        assert landed is not None and landed.written == 13
        write.finish()
        (setting,) = con.execute(
            "SELECT current_setting('disabled_compression_methods')"
        ).fetchall()[0]
    assert str(setting).lower() == "fsst"
    with duckdb.connect(store.path, read_only=True) as con:
        used = {
            str(kind).lower()
            for (kind,) in con.execute(
                "SELECT DISTINCT compression FROM pragma_storage_info(?) "
                "WHERE column_name = 'embedding'",
                [store.table_ref("docs").rsplit(":", 1)[-1]],
            ).fetchall()
        }
    assert not used & {"alp", "alprd"}, used
    stored = _stored(store)
    texts = sorted(set(TEXTS.values()))
    by_text = {t: _vector(i) for i, t in enumerate(texts)}
    for row in stored.itertuples():
        want = _vector(99) if row.id == "other" else by_text[TEXTS[row.id]]
        assert np.array_equal(np.asarray(row.embedding, np.float32), np.float32(want))
