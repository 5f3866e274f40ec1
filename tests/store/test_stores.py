"""The store contract, for every store: upsert, delete, reuse by hash, stats, search, owners
and generations. The BigQuery store runs against the BigQuery emulator."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embed_assets import DuckDBEmbeddingStore
from embed_assets.store.base import EmbeddingStore, delete_rows_not_in, embedding_rows
from embed_assets.store.bigquery_store import BigQueryEmbeddingStore


def rows(ids: list[str], hashes: list[str], vectors: list[list[float]]):  # type: ignore[no-untyped-def]
    return embedding_rows(
        ids=ids,
        content_hashes=hashes,
        vectors=np.array(vectors, dtype=np.float32),
        token_counts=[1] * len(ids),
        model="m",
    )


def test_upsert_replaces_rows_by_id_and_keeps_the_rest(store: EmbeddingStore) -> None:
    store.upsert("p", rows(["a", "b"], ["h1", "h2"], [[1, 0], [0, 1]]))
    store.upsert("p", rows(["b", "c"], ["h3", "h4"], [[1, 1], [0, 0]]))
    table = store.read("p")
    assert table["id"].tolist() == ["a", "b", "c"]
    assert table.set_index("id").loc["b", "content_hash"] == "h3"


def test_delete_except_removes_ids_that_left_and_stale_hashes(store: EmbeddingStore) -> None:
    store.upsert("p", rows(["a", "b", "c"], ["h1", "h2", "h3"], [[1, 0], [0, 1], [1, 1]]))
    deleted = store.delete_except(
        "p", pd.DataFrame({"id": ["a", "b"], "content_hash": ["h1", "new"]})
    )
    assert deleted == 2
    assert store.read("p")["id"].tolist() == ["a"]


def test_delete_rows_not_in_a_file_deletes_what_delete_except_deletes(
    store: EmbeddingStore, tmp_path: Path
) -> None:
    """The pairs to keep as a Parquet file (landing's way): the same rows go, by exact pair."""
    store.upsert("p", rows(["a", "b", "c", "d"], ["h1", "h2", "h3", "h4"], [[1, 0]] * 4))
    kept = tmp_path / "kept.parquet"
    # b's text changed, c left the corpus, d's hash is a's (the pair is what counts)
    pq.write_table(pa.table({"id": ["a", "b", "d"], "content_hash": ["h1", "new", "h1"]}), kept)
    assert delete_rows_not_in(store, "p", kept) == 3
    assert store.read("p")["id"].tolist() == ["a"]
    assert delete_rows_not_in(store, "p", kept) == 0
    assert delete_rows_not_in(store, "never-written", kept) == 0


def test_copy_by_hash_reuses_a_stored_vector(store: EmbeddingStore) -> None:
    store.upsert("p", rows(["a"], ["h1"], [[0.6, 0.8]]))
    copied = store.copy_by_hash("p", pd.DataFrame({"id": ["z"], "content_hash": ["h1"]}), "m")
    assert copied == 1
    table = store.read("p").set_index("id")
    assert np.allclose(table.loc["z", "embedding"], [0.6, 0.8])


def test_stats_count_wrong_dimensions_and_non_finite_vectors(store: EmbeddingStore) -> None:
    store.upsert("p", rows(["a", "b"], ["h1", "h2"], [[1, 0], [np.nan, 1]]))
    store.upsert(
        "p",
        embedding_rows(
            ids=["c"],
            content_hashes=["h3"],
            vectors=np.ones((1, 3), dtype=np.float32),
            token_counts=[2],
            model="m",
        ),
    )
    stats = store.stats("p", dimension=2)
    assert (stats.rows, stats.wrong_dimension, stats.non_finite, stats.tokens) == (3, 1, 1, 4)
    names = [name for name, _ in stats.columns]  # every column, as the store declares it
    assert names == [
        "id",
        "content_hash",
        "embedding",
        "model",
        "token_count",
        "embedded_at",
        "truncated",
        "document_id",
        "chunk_index",
        "chunk_start",
        "chunk_end",
    ]
    assert dict(stats.columns)["embedding"] in ("FLOAT[]", "ARRAY<FLOAT>", "ARRAY<FLOAT64>")


def test_truncated_rows_are_kept_copied_and_counted_with_examples(store: EmbeddingStore) -> None:
    store.upsert(
        "p",
        embedding_rows(
            ids=["a", "b", "c"],
            content_hashes=["h1", "h2", "h3"],
            vectors=np.eye(3, dtype=np.float32),
            token_counts=[2048, 5, 2048],
            model="m",
            truncated=[True, False, True],
        ),
    )
    store.copy_by_hash("p", pd.DataFrame({"id": ["z"], "content_hash": ["h3"]}), "m")
    stats = store.stats("p", dimension=3)
    assert (stats.truncated, stats.truncated_examples) == (3, ("a", "c", "z"))
    table = store.read("p").set_index("id")
    assert table["truncated"].to_dict() == {"a": True, "b": False, "c": True, "z": True}


def test_a_table_made_before_truncation_was_recorded_gains_the_column(
    store: EmbeddingStore,
) -> None:
    """Rows written without `truncated` stay, unknown (NULL) and not counted as truncated."""
    columns = "id, content_hash, embedding, model, token_count, embedded_at"
    if isinstance(store, DuckDBEmbeddingStore):
        with store.connect() as con:
            con.execute(
                "CREATE TABLE p (id VARCHAR NOT NULL, content_hash VARCHAR NOT NULL, "
                "embedding FLOAT[] NOT NULL, model VARCHAR NOT NULL, token_count INTEGER, "
                "embedded_at TIMESTAMPTZ NOT NULL)"
            )
            con.execute(f"INSERT INTO p ({columns}) VALUES ('old', 'h0', [1, 0], 'm', 3, now())")
    else:
        assert isinstance(store, BigQueryEmbeddingStore)
        with store.client() as client:
            table = f"`{store.project}.{store.dataset}.p`"
            for sql in (
                f"CREATE TABLE {table} (id STRING NOT NULL, content_hash STRING NOT NULL, "
                "embedding ARRAY<FLOAT64>, model STRING NOT NULL, token_count INT64, "
                "embedded_at TIMESTAMP NOT NULL)",
                f"INSERT INTO {table} ({columns}) VALUES "
                "('old', 'h0', [1.0, 0.0], 'm', 3, CURRENT_TIMESTAMP())",
            ):
                client.query(sql).result()
    store.upsert("p", rows(["new"], ["h1"], [[0, 1]]))
    table = store.read("p").set_index("id")
    assert sorted(table.index) == ["new", "old"]
    assert pd.isna(table.loc["old", "truncated"]) and not table.loc["new", "truncated"]
    assert store.stats("p", dimension=2).truncated == 0


def test_search_answers_each_document_once_by_its_best_chunk(store: EmbeddingStore) -> None:
    places = pd.DataFrame(
        {
            "document_id": ["a", "a", "b", None],
            "chunk_index": [0, 1, 0, None],
            "chunk_start": [0, 50, 0, None],
            "chunk_end": [40, 90, 30, None],
        }
    )
    store.upsert(
        "p",
        embedding_rows(
            ids=["a#0", "a#1", "b#0", "whole"],
            content_hashes=["h1", "h2", "h3", "h4"],
            vectors=np.array([[1, 0.2], [1, 0.05], [0.5, 1], [0, 1]], dtype=np.float32),
            token_counts=[1] * 4,
            model="m",
            positions=places,
        ),
    )
    found = store.search("p", np.array([1, 0], dtype=np.float32), k=3)
    assert found["document_id"].tolist() == ["a", "b", "whole"]
    assert found["id"].tolist() == ["a#1", "b#0", "whole"]  # a's best chunk, not both
    assert found.loc[0, ["chunk_start", "chunk_end"]].tolist() == [50, 90]
    assert found["similarity"].is_monotonic_decreasing


def test_search_orders_by_cosine_similarity(store: EmbeddingStore) -> None:
    store.upsert("p", rows(["x", "y", "z"], ["1", "2", "3"], [[1, 0], [0.7, 0.7], [0, 1]]))
    found = store.search("p", np.array([1, 0.1], dtype=np.float32), k=2)
    assert found["id"].tolist() == ["x", "y"]


def test_a_table_has_one_owner(store: EmbeddingStore) -> None:
    """`Docs` and `docs` map to one table: the second claim is refused, naming both."""
    from embed_assets.store.base import TableIdentity, TableOwnedError

    first = TableIdentity(pipeline="Docs", model="m", dimension=8, task_type=None)
    store.claim(first)
    store.claim(first)  # the owner may claim again
    with pytest.raises(TableOwnedError, match="table docs belongs to pipeline 'Docs'"):
        store.claim(TableIdentity(pipeline="docs", model="m", dimension=8, task_type=None))
    assert store.owner("Docs") == first


def test_other_vectors_go_to_a_new_generation_until_it_is_switched_in(
    store: EmbeddingStore,
) -> None:
    """Refreshes write the generation being built; read, stats and search serve the live one."""
    from embed_assets.store.base import TableIdentity

    old = TableIdentity(pipeline="p", model="m", dimension=2, task_type=None)
    new = TableIdentity(pipeline="p", model="n", dimension=3, task_type=None)
    store.claim(old)
    store.upsert("p", rows(["a", "b"], ["h1", "h2"], [[1, 0], [0, 1]]))
    generations = store.claim(new)
    assert (generations.serving, generations.building) == (old, new)
    store.upsert("p", rows(["a"], ["n1"], [[1, 1, 1]]))
    store.delete_except("p", pd.DataFrame({"id": ["a"], "content_hash": ["n1"]}))
    assert store.current_hashes("p")["content_hash"].tolist() == ["n1"]  # what refreshes see
    assert store.read("p")["id"].tolist() == ["a", "b"]  # what users see
    assert store.stats("p", dimension=2).rows == 2
    assert store.search("p", np.array([0, 1], dtype=np.float32), k=1)["id"].tolist() == ["b"]
    assert store.claim(new).building == new  # the same claim keeps what was built
    assert store.current_hashes("p")["content_hash"].tolist() == ["n1"]
    store.switch_generation("p")
    assert store.generations("p").serving == new and store.generations("p").building is None
    assert store.read("p")["content_hash"].tolist() == ["n1"]
    assert store.stats("p", dimension=3).rows == 1


def test_claiming_the_live_vectors_again_drops_the_generation_being_built(
    store: EmbeddingStore,
) -> None:
    from embed_assets.store.base import TableIdentity

    old = TableIdentity(pipeline="p", model="m", dimension=2, task_type=None)
    store.claim(old)
    store.upsert("p", rows(["a"], ["h1"], [[1, 0]]))
    store.claim(TableIdentity(pipeline="p", model="m", dimension=2, task_type="RETRIEVAL_QUERY"))
    store.upsert("p", rows(["a"], ["t1"], [[0, 1]]))
    assert store.claim(old).building is None
    assert store.current_hashes("p")["content_hash"].tolist() == ["h1"]
    store.switch_generation("p")  # nothing being built: nothing changes
    assert store.read("p")["content_hash"].tolist() == ["h1"]


def test_chunks_where_the_table_holds_whole_documents_go_to_a_new_generation(
    store: EmbeddingStore,
) -> None:
    """Every id changes with chunking, so chunk rows are built beside the documents, then swap."""
    from embed_assets.store.base import TableIdentity

    documents = TableIdentity(pipeline="p", model="m", dimension=2, task_type=None)
    chunks = TableIdentity(pipeline="p", model="m", dimension=2, task_type=None, chunked=True)
    store.claim(documents)
    store.upsert("p", rows(["a", "b"], ["h1", "h2"], [[1, 0], [0, 1]]))
    generations = store.claim(chunks)
    assert (generations.serving, generations.building) == (documents, chunks)
    assert "chunks of documents" in chunks.describe()
    store.upsert("p", _chunk_rows(["a#0", "a#1"], ["c1", "c2"]))
    assert store.read("p")["id"].tolist() == ["a", "b"]  # the documents serve meanwhile
    store.switch_generation("p")
    assert store.generations("p") == type(generations)(serving=chunks)
    assert sorted(store.read("p")["id"]) == ["a#0", "a#1"]
    assert store.claim(documents).building == documents  # and back again, the same way


def _chunk_rows(ids: list[str], hashes: list[str]):  # type: ignore[no-untyped-def]
    return embedding_rows(
        ids=ids,
        content_hashes=hashes,
        vectors=np.ones((len(ids), 2), dtype=np.float32),
        token_counts=[1] * len(ids),
        model="m",
        positions=pd.DataFrame(
            {
                "document_id": [i.split("#")[0] for i in ids],
                "chunk_index": range(len(ids)),
                "chunk_start": [10 * n for n in range(len(ids))],
                "chunk_end": [10 * n + 9 for n in range(len(ids))],
            }
        ),
    )


def test_an_owners_record_older_than_the_chunked_flag_is_read_from_its_rows(
    store: EmbeddingStore,
) -> None:
    """A table of chunks claimed before the flag was recorded is not taken for documents."""
    from embed_assets.store.base import TableIdentity

    chunks = TableIdentity(pipeline="p", model="m", dimension=2, task_type=None, chunked=True)
    store.claim(chunks)
    store.upsert("p", _chunk_rows(["a#0"], ["c1"]))
    forget = "UPDATE {owners} SET chunked = NULL WHERE table_name = 'p'"
    if isinstance(store, DuckDBEmbeddingStore):
        with store.connect() as con:
            con.execute(forget.format(owners='"embed_assets#tables"'))
    else:
        assert isinstance(store, BigQueryEmbeddingStore)
        with store.client() as client:
            owners = f"`{store.project}.{store.dataset}._embed_assets_tables`"
            client.query(forget.format(owners=owners)).result()
    assert store.owner("p") == chunks
    assert store.claim(chunks).building is None  # no generation: nothing to embed again


def test_an_empty_table_takes_other_vectors_at_once(store: EmbeddingStore) -> None:
    """With nothing to keep serving, no generation is built beside the table."""
    from embed_assets.store.base import TableIdentity

    store.claim(TableIdentity(pipeline="p", model="m", dimension=2, task_type=None))
    new = TableIdentity(pipeline="p", model="n", dimension=3, task_type=None)
    assert store.claim(new).building is None
    assert store.owner("p") == new


# pipelines named like another pipeline's failures, generation or the bookkeeping tables
NAMES = (
    "docs",
    "docs__failures",
    "failures__docs",
    "next__docs",
    "next_failures__docs",
    "embed_assets_tables",
    "embed_assets_consumed_jobs",
)


def test_no_pipeline_name_collides_with_the_store_s_own_tables(store: EmbeddingStore) -> None:
    """Pipelines named like the bookkeeping and failure tables of other pipelines keep apart."""
    from embed_assets.store.base import TableIdentity

    for name in NAMES:
        store.claim(TableIdentity(pipeline=name, model="m", dimension=2, task_type=None))
        store.upsert(name, rows([name], ["h"], [[1, 0]]))
        store.record_consumed_jobs(name, [f"job-{name}"])
    store.replace_failures(
        "docs", pd.DataFrame({"id": ["x"], "content_hash": ["h"], "reason": ["r"]})
    )
    for name in NAMES:
        assert store.read(name)["id"].tolist() == [name]
        assert store.consumed_jobs(name) == {f"job-{name}"}
        assert store.owner(name) is not None and store.owner(name).pipeline == name  # type: ignore[union-attr]
