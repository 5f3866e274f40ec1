"""`BigQueryEmbeddingStore`: the embedding table in a BigQuery dataset."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, Literal

import dagster as dg
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery
from pydantic import Field, PrivateAttr

from embed_assets.bigquery.client import (
    bigquery_client,
    query_frame,
    query_rows,
    run_query,
    scratch_keys,
    scratch_table,
)
from embed_assets.store.base import (
    Generations,
    StoreStats,
    TableIdentity,
    check_owner,
    keys_and_positions,
    no_stored_rows,
    same_vectors,
    table_name,
    with_row_defaults,
)
from embed_assets.store.bigquery_landing import BigQueryWarehouse
from embed_assets.store.bigquery_tables import (
    ADDED_COLUMNS,
    BUILD_NEXT_SQL,
    CONSUMED,
    CONSUMED_DDL,
    COPY_BY_HASH_SQL,
    FAILURES_DDL,
    KEY_FIELDS,
    OWNERS,
    OWNERS_ADDED_COLUMNS,
    OWNERS_DDL,
    RECORD_OWNER_SQL,
    ROW_FIELDS,
    ROWS_DDL,
    SEARCH_SQL,
    SWITCH_OWNER_SQL,
    UPSERT_SQL,
    VECTOR_SEARCH_FETCH,
    VECTOR_SEARCH_SQL,
    Tables,
    add_columns,
    live_tables,
    next_tables,
    read_generations,
    read_stats,
)


class BigQueryEmbeddingStore(dg.ConfigurableResource):
    """Keeps each pipeline's embeddings in a table of a BigQuery dataset.

    The table (named after the pipeline, clustered by `id`) has columns `id`, `content_hash`,
    `embedding` (`ARRAY<FLOAT64>`), `model`, `token_count` and `embedded_at`. Changes are MERGEd
    and deleted by id, so a 1 % change scans the table once and writes about 1 % of it. The
    store's own tables start with `_`: failed rows of the latest refresh (`_failures__<table>`),
    a generation being built for other vectors (`_next__<table>`), table owners
    (`_embed_assets_tables`) and landed jobs (`_embed_assets_consumed_jobs`).

    With `BIGQUERY_EMULATOR_HOST` set, it talks to that emulator with anonymous credentials;
    otherwise through dagster-gcp's `BigQueryResource` (application default credentials).

    Example:
        ```python
        resources = {"docs_embedding_store": BigQueryEmbeddingStore(project="my-project", dataset="embeddings")}
        ```
    """

    kind: ClassVar[str] = "bigquery"  # the Dagster kind of the assets it serves

    project: str = Field(description="The Google Cloud project that holds the dataset.")
    dataset: str = Field(description="The dataset of the embedding tables; created if missing.")
    location: str | None = Field(
        default=None, description="Where the dataset lives and jobs run (`US`, `EU`, a region)."
    )
    search_method: Literal["auto", "vector_search", "sql"] = Field(
        default="auto",
        description="How `search` ranks rows: BigQuery's VECTOR_SEARCH, a plain SQL cosine "
        "(exact, scans the table), or `auto`: VECTOR_SEARCH, and the SQL cosine where the "
        "service does not offer it (emulators).",
    )
    _dataset_ready: bool = PrivateAttr(default=False)
    _vector_search: bool | None = PrivateAttr(default=None)
    _catalog_ready: bool = PrivateAttr(default=False)

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def client(self) -> Iterator[bigquery.Client]:
        """Yields a client for the store's project, creating the dataset on first use."""
        with bigquery_client(project=self.project, location=self.location) as client:
            if not self._dataset_ready:
                dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
                if self.location:
                    dataset.location = self.location
                client.create_dataset(dataset, exists_ok=True)
                self._dataset_ready = True
            yield client

    @property
    def dataset_id(self) -> str:
        """`project.dataset`."""
        return f"{self.project}.{self.dataset}"

    def _ref(self, table: str) -> str:
        return f"`{self.project}.{self.dataset}.{table}`"

    def _catalog(self, client: bigquery.Client) -> None:
        if self._catalog_ready:  # created once per resource: every DDL is a BigQuery job
            return
        run_query(client, OWNERS_DDL.format(table=self._ref(OWNERS)))
        self._add_columns(client, OWNERS, OWNERS_ADDED_COLUMNS)
        run_query(client, CONSUMED_DDL.format(table=self._ref(CONSUMED)))
        self._catalog_ready = True

    def _add_columns(self, client: bigquery.Client, table: str, added: dict[str, str]) -> None:
        add_columns(client, f"{self.project}.{self.dataset}.{table}", self._ref(table), added)

    def _ensure(self, client: bigquery.Client, tables: Tables) -> None:
        # two metadata reads instead of two DDL jobs (about a second each) when both exist
        rows = self._table(client, tables.rows)
        if rows is None:
            run_query(client, ROWS_DDL.format(table=self._ref(tables.rows)))
        else:
            self._add_columns(client, tables.rows, ADDED_COLUMNS)
        if not self._exists(client, tables.failures):
            run_query(client, FAILURES_DDL.format(table=self._ref(tables.failures)))

    def _exists(self, client: bigquery.Client, table: str) -> bool:
        return self._table(client, table) is not None

    def _table(self, client: bigquery.Client, table: str) -> bigquery.Table | None:
        try:
            return client.get_table(f"{self.project}.{self.dataset}.{table}")
        except NotFound:
            return None

    def _drop(self, client: bigquery.Client, tables: Tables) -> None:
        run_query(client, f"DROP TABLE IF EXISTS {self._ref(tables.rows)}")
        run_query(client, f"DROP TABLE IF EXISTS {self._ref(tables.failures)}")

    def _read_generations(self, client: bigquery.Client, table: str) -> Generations:
        live = live_tables(table).rows
        return read_generations(
            client,
            table,
            owners=self._ref(OWNERS),
            live=self._ref(live),
            live_exists=lambda: self._exists(client, live),
        )

    def _written(self, client: bigquery.Client, pipeline: str) -> Tables:
        """The generation refreshes write to: the one being built, else the live one."""
        table = table_name(pipeline)
        self._catalog(client)
        building = self._read_generations(client, table).building
        return next_tables(table) if building else live_tables(table)

    def warehouse(self) -> BigQueryWarehouse:
        """The store's SQL face: prediction tables land in BigQuery (`store.base.Warehouse`)."""
        return BigQueryWarehouse(self)

    # -- the store protocol -----------------------------------------------------------------

    def table_ref(self, pipeline: str) -> str:
        """Returns `bq://project.dataset.table`."""
        return f"bq://{self.project}.{self.dataset}.{table_name(pipeline)}"

    def generations(self, pipeline: str) -> Generations:
        """Returns the generation that serves and the one being built."""
        with self.client() as client:
            self._catalog(client)
            return self._read_generations(client, table_name(pipeline))

    def owner(self, pipeline: str) -> TableIdentity | None:
        """Returns who owns the pipeline's table and what it serves (None before a claim)."""
        return self.generations(pipeline).serving

    def claim(self, identity: TableIdentity) -> Generations:
        """Records the owner of the pipeline's table; refuses a second pipeline mapping to it.

        Vectors of another model, dimension or task type than the live table's (or chunks
        where it holds whole documents) go to a new generation while the live one (if it has
        rows) keeps serving. BigQuery runs no DDL in
        a transaction, so the record is written last, in one statement: a claim interrupted
        before it leaves only tables the next claim recreates or drops.
        """
        table = table_name(identity.pipeline)
        with self.client() as client:
            self._catalog(client)
            recorded = self._read_generations(client, table)
            check_owner(recorded.serving, identity, table=table)
            serving, live = recorded.serving, live_tables(table)
            if (
                serving is None
                or same_vectors(serving, identity)
                or not self._exists(client, live.rows)
                or not query_rows(client, f"SELECT 1 FROM {self._ref(live.rows)} LIMIT 1")
            ):  # nothing to keep serving: the live table is (re)claimed as is
                self._drop(client, next_tables(table))
                if serving is not None and not same_vectors(serving, identity):
                    self._drop(client, live)  # empty, but its failures are of other vectors
                self._record_owner(client, table, identity)
                return Generations(serving=identity)
            if recorded.building is None or not same_vectors(recorded.building, identity):
                self._drop(client, next_tables(table))  # other vectors: start afresh
            self._ensure(client, next_tables(table))
            run_query(
                client,
                BUILD_NEXT_SQL.format(owners=self._ref(OWNERS)),
                {
                    "table": table,
                    "model": identity.model,
                    "dimension": identity.dimension,
                    "task_type": identity.task_type,
                    "chunked": identity.chunked,
                },
            )
            return Generations(serving=serving, building=identity)

    def _record_owner(self, client: bigquery.Client, table: str, identity: TableIdentity) -> None:
        run_query(
            client,
            RECORD_OWNER_SQL.format(owners=self._ref(OWNERS)),
            {
                "table": table,
                "pipeline": identity.pipeline,
                "model": identity.model,
                "dimension": identity.dimension,
                "task_type": identity.task_type,
                "chunked": identity.chunked,
            },
        )

    def switch_generation(self, pipeline: str) -> None:
        """Makes the generation being built the live one, then drops it.

        Each table is replaced in one statement (`CREATE OR REPLACE TABLE ... AS SELECT`), and
        the owners record changes after both; interrupted, the record still names the
        generation being built, and the next switch repeats the copies.
        """
        table = table_name(pipeline)
        live, building = live_tables(table), next_tables(table)
        with self.client() as client:
            self._catalog(client)
            if self._read_generations(client, table).building is None:
                return
            self._ensure(client, building)
            run_query(
                client,
                f"CREATE OR REPLACE TABLE {self._ref(live.rows)} CLUSTER BY id AS "
                f"SELECT * FROM {self._ref(building.rows)}",
            )
            run_query(
                client,
                f"CREATE OR REPLACE TABLE {self._ref(live.failures)} AS "
                f"SELECT * FROM {self._ref(building.failures)}",
            )
            run_query(
                client,
                SWITCH_OWNER_SQL.format(owners=self._ref(OWNERS)),
                {"table": table},
            )
            self._drop(client, building)

    def current_hashes(self, pipeline: str) -> pd.DataFrame:
        """Returns `id, content_hash, chunk_start, chunk_end` of the rows refreshes write to."""
        with self.client() as client:
            tables = self._written(client, pipeline)
            if not self._exists(client, tables.rows):
                return no_stored_rows()
            arrow = (
                run_query(
                    client,
                    f"SELECT id, content_hash, chunk_start, chunk_end FROM {self._ref(tables.rows)}",
                )
                .result(page_size=100_000)
                .to_arrow(create_bqstorage_client=False)
            )
        return arrow.to_pandas(types_mapper=pd.ArrowDtype)

    def consumed_jobs(self, pipeline: str) -> set[str]:
        """Returns the names of the jobs whose output was landed or given up on."""
        with self.client() as client:
            self._catalog(client)
            rows = query_rows(
                client,
                f"SELECT job_name FROM {self._ref(CONSUMED)} WHERE table_name = @table",
                {"table": table_name(pipeline)},
            )
        return {str(row[0]) for row in rows}

    def record_consumed_jobs(self, pipeline: str, names: Sequence[str]) -> None:
        """Records jobs as landed or of no use; recording one twice is harmless."""
        if not names:
            return
        with self.client() as client:
            self._catalog(client)
            run_query(
                client,
                f"MERGE {self._ref(CONSUMED)} t USING (SELECT DISTINCT @table AS table_name, "
                "name AS job_name FROM UNNEST(@names) AS name) s "
                "ON t.table_name = s.table_name AND t.job_name = s.job_name "
                "WHEN NOT MATCHED THEN INSERT (table_name, job_name, consumed_at) "
                "VALUES (s.table_name, s.job_name, CURRENT_TIMESTAMP())",
                {"table": table_name(pipeline), "names": list(names)},
            )

    def upsert(self, pipeline: str, rows: pa.Table) -> int:
        """Replaces the rows of the ids in `rows` and inserts the new ones (one MERGE)."""
        if rows.num_rows == 0:
            return 0
        with self.writer(pipeline) as write:
            return write(rows)

    @contextmanager
    def writer(self, pipeline: str) -> Iterator[Callable[[pa.Table], int]]:
        """Keeps one client for many upserts; each is a load into a scratch table and a MERGE."""
        with self.write_target(pipeline) as (client, target):

            def write(rows: pa.Table) -> int:
                if rows.num_rows == 0:
                    return 0
                incoming_rows = with_row_defaults(rows)
                with scratch_table(client, self.dataset_id, incoming_rows, ROW_FIELDS) as incoming:
                    run_query(client, UPSERT_SQL.format(target=target, incoming=incoming))
                return rows.num_rows

            yield write

    @contextmanager
    def write_target(self, pipeline: str) -> Iterator[tuple[bigquery.Client, str]]:
        """Yields a client and the quoted table refreshes write to (created if missing)."""
        with self.client() as client:
            tables = self._written(client, pipeline)
            self._ensure(client, tables)
            yield client, self._ref(tables.rows)

    def copy_by_hash(self, pipeline: str, wanted: pd.DataFrame, model: str) -> int:
        """Gives `wanted` ids the vector already stored for their content hash under another id."""
        if wanted.empty:
            return 0
        with self.client() as client:
            tables = self._written(client, pipeline)
            self._ensure(client, tables)
            target = self._ref(tables.rows)
            keys = keys_and_positions(wanted)
            with scratch_table(client, self.dataset_id, keys, KEY_FIELDS) as incoming:
                job = run_query(client, COPY_BY_HASH_SQL.format(target=target, incoming=incoming))
        return int(job.num_dml_affected_rows or 0)

    def delete_except(self, pipeline: str, keep: pd.DataFrame) -> int:
        """Deletes rows whose (id, content_hash) pair is not in `keep`."""
        with self.client() as client:
            tables = self._written(client, pipeline)
            if not self._exists(client, tables.rows):
                return 0
            with scratch_keys(client, self.dataset_id, keep, ["id", "content_hash"]) as incoming:
                job = run_query(
                    client,
                    f"DELETE FROM {self._ref(tables.rows)} t WHERE NOT EXISTS (SELECT 1 FROM "
                    f"{incoming} k WHERE k.id = t.id AND k.content_hash = t.content_hash)",
                )
        return int(job.num_dml_affected_rows or 0)

    def replace_failures(self, pipeline: str, failures: pd.DataFrame) -> None:
        """Replaces the failure list with `failures` (`id, content_hash, reason`), in one transaction."""
        with self.client() as client:
            tables = self._written(client, pipeline)
            self._ensure(client, tables)
            target = self._ref(tables.failures)
            with scratch_keys(
                client, self.dataset_id, failures, ["id", "content_hash", "reason"]
            ) as incoming:
                run_query(
                    client,
                    f"BEGIN TRANSACTION; DELETE FROM {target} WHERE true; INSERT INTO {target} "
                    f"SELECT id, content_hash, reason, CURRENT_TIMESTAMP() FROM {incoming}; "
                    "COMMIT TRANSACTION;",
                )

    def failures(self, pipeline: str) -> pd.DataFrame:
        """Returns the rows that failed in the latest refresh."""
        with self.client() as client:
            tables = self._written(client, pipeline)
            self._ensure(client, tables)
            return query_frame(client, f"SELECT * FROM {self._ref(tables.failures)} ORDER BY id")

    def read(self, pipeline: str) -> pd.DataFrame:
        """Returns the live table, ordered by id."""
        return self._read_live(pipeline, limit=None)

    def preview(self, pipeline: str, *, rows: int) -> pd.DataFrame:
        """Returns the first `rows` rows of the live table, ordered by id."""
        return self._read_live(pipeline, limit=rows)

    def _read_live(self, pipeline: str, *, limit: int | None) -> pd.DataFrame:
        tables = live_tables(table_name(pipeline))
        with self.client() as client:
            self._ensure(client, tables)
            tail = " LIMIT @limit" if limit is not None else ""
            params: dict[str, object] = {"limit": limit} if limit is not None else {}
            return query_frame(
                client, f"SELECT * FROM {self._ref(tables.rows)} ORDER BY id{tail}", params
            )

    def stats(self, pipeline: str, *, dimension: int) -> StoreStats:
        """Counts the live table's rows, its vectors not `dimension` long, and non-finite ones."""
        tables = live_tables(table_name(pipeline))
        with self.client() as client:
            self._ensure(client, tables)
            return read_stats(client, f"{self.dataset_id}.{tables.rows}", dimension=dimension)

    def search(self, pipeline: str, vector: npt.NDArray[np.float32], *, k: int) -> pd.DataFrame:
        """Returns the `k` documents of the live table closest to `vector` (cosine), best first.

        Each document once, by its best chunk (see `EmbeddingStore.search`). Zero vectors
        (stored or asked for) have no similarity and are left out.
        """
        tables = live_tables(table_name(pipeline))
        query = [float(value) for value in vector.astype(float)]
        with self.client() as client:
            self._ensure(client, tables)
            if self.search_method != "sql" and self._vector_search is not False:
                try:
                    sql = VECTOR_SEARCH_SQL.format(table=self._ref(tables.rows))
                    fetch = k * VECTOR_SEARCH_FETCH
                    found = query_frame(client, sql, {"query": query, "k": k, "fetch": fetch})
                    self._vector_search = True
                    return found.reset_index(drop=True)
                except BadRequest:
                    if self.search_method == "vector_search" or self._vector_search:
                        raise
                    self._vector_search = False  # not offered here: rank in plain SQL
            sql = SEARCH_SQL.format(table=self._ref(tables.rows))
            return query_frame(client, sql, {"query": query, "k": k})
