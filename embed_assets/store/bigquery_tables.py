"""The tables of a BigQuery embedding store: names, DDL, statements, the generations record.

BigQuery table names cannot hold the `#` the DuckDB store marks its own tables with. A
pipeline's table name never starts with `_` (see `names.table_name`), so every table of the
store's own begins with one, followed by a kind and `__`: `_failures__docs`, `_next__docs`,
`_next_failures__docs`, `_embed_assets_tables`. No two kinds share a prefix up to their `__`, so
no pipeline's name can make two of them meet.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.cloud import bigquery

from embed_assets.bigquery.client import query_rows, run_query
from embed_assets.store.base import (
    TRUNCATED_EXAMPLES,
    Generations,
    StoreStats,
    TableIdentity,
    generation_tables,
)

OWNERS = "_embed_assets_tables"
CONSUMED = "_embed_assets_consumed_jobs"

ROWS_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id STRING NOT NULL,
    content_hash STRING NOT NULL,
    embedding ARRAY<FLOAT64>,
    model STRING NOT NULL,
    token_count INT64,
    embedded_at TIMESTAMP NOT NULL,
    truncated BOOL,
    document_id STRING,
    chunk_index INT64,
    chunk_start INT64,
    chunk_end INT64
)
CLUSTER BY id
"""
# tables made before these columns were recorded gain them (NULL: not known)
ADDED_COLUMNS = {
    "truncated": "BOOL",
    "document_id": "STRING",
    "chunk_index": "INT64",
    "chunk_start": "INT64",
    "chunk_end": "INT64",
}
ROWS_MIGRATION = "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
# where a chunk is in its document, as `UPDATE SET` assignments from the source row `s`
_SET_POSITIONS = (
    "document_id = s.document_id, chunk_index = s.chunk_index, chunk_start = s.chunk_start, "
    "chunk_end = s.chunk_end"
)
FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id STRING, content_hash STRING, reason STRING, recorded_at TIMESTAMP
)
"""
# which pipeline owns each table, what its vectors are, and what the generation being built
# will hold (next_*, NULL when none is built)
OWNERS_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    table_name STRING NOT NULL,
    pipeline STRING NOT NULL,
    model STRING NOT NULL,
    dimension INT64 NOT NULL,
    task_type STRING,
    claimed_at TIMESTAMP NOT NULL,
    next_model STRING,
    next_dimension INT64,
    next_task_type STRING,
    chunked BOOL,
    next_chunked BOOL
)
"""
# added after the first release: NULL in older records (the rows then say, `holds_chunks`)
OWNERS_ADDED_COLUMNS = {"chunked": "BOOL", "next_chunked": "BOOL"}
OWNERS_COLUMNS = (
    "pipeline, model, dimension, task_type, next_model, next_dimension, next_task_type, "
    "chunked, next_chunked"
)
CONSUMED_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    table_name STRING NOT NULL, job_name STRING NOT NULL, consumed_at TIMESTAMP NOT NULL
)
"""

# the owners record: a claim (its generation serves; typed NULLs, as the emulator's MERGE does
# not parse a bare NULL) ...
RECORD_OWNER_SQL = """
MERGE {owners} t USING (SELECT @table AS table_name) s ON t.table_name = s.table_name
WHEN MATCHED THEN UPDATE SET pipeline = @pipeline, model = @model, dimension = @dimension,
    task_type = NULLIF(@task_type, ''), claimed_at = CURRENT_TIMESTAMP(), chunked = @chunked,
    next_model = CAST(NULL AS STRING), next_dimension = CAST(NULL AS INT64),
    next_task_type = CAST(NULL AS STRING), next_chunked = CAST(NULL AS BOOL)
WHEN NOT MATCHED THEN INSERT (
    table_name, pipeline, model, dimension, task_type, claimed_at, chunked)
    VALUES (@table, @pipeline, @model, @dimension, NULLIF(@task_type, ''), CURRENT_TIMESTAMP(),
        @chunked)
"""
# ... a generation of other vectors being built beside it ...
BUILD_NEXT_SQL = """
UPDATE {owners} SET next_model = @model, next_dimension = @dimension,
    next_task_type = NULLIF(@task_type, ''), next_chunked = @chunked WHERE table_name = @table
"""
# ... and that generation switched in
SWITCH_OWNER_SQL = """
UPDATE {owners} SET model = next_model, dimension = next_dimension, task_type = next_task_type,
    chunked = COALESCE(next_chunked, FALSE), next_model = NULL, next_dimension = NULL,
    next_task_type = NULL, next_chunked = NULL, claimed_at = CURRENT_TIMESTAMP() WHERE table_name = @table
"""
# what the checks need; NaN and infinity propagate through a sum, so one sum per row finds them
STATS_SQL = """
SELECT count(*), COUNTIF(ARRAY_LENGTH(embedding) != @dimension),
    COUNTIF(IS_NAN(total) OR IS_INF(total)), COALESCE(SUM(token_count), 0), COUNTIF(truncated)
FROM (SELECT embedding, token_count, truncated,
    (SELECT SUM(v) FROM UNNEST(embedding) v) AS total FROM {table})
"""
TRUNCATED_IDS_SQL = "SELECT id FROM {table} WHERE truncated ORDER BY id LIMIT @limit"

# one source row per id: MERGE refuses a target row matched twice
UPSERT_SQL = """
MERGE {target} t
USING (SELECT * FROM {incoming} WHERE true QUALIFY ROW_NUMBER() OVER (PARTITION BY id) = 1) s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET content_hash = s.content_hash, embedding = s.embedding,
    model = s.model, token_count = s.token_count, embedded_at = s.embedded_at,
    truncated = s.truncated, {set_positions}
WHEN NOT MATCHED THEN INSERT ROW
""".replace("{set_positions}", _SET_POSITIONS)
# wanted ids (`id, content_hash` and positions in {incoming}) take the vector stored under their
# hash
COPY_BY_HASH_SQL = """
MERGE {target} t
USING (
    SELECT w.id, s.content_hash, s.embedding, s.model, s.token_count, s.truncated,
        w.document_id, w.chunk_index, w.chunk_start, w.chunk_end
    FROM (SELECT * FROM {incoming} WHERE true QUALIFY ROW_NUMBER() OVER (PARTITION BY id) = 1) w
    JOIN (
        SELECT content_hash, embedding, model, token_count, truncated FROM {target}
        WHERE true QUALIFY ROW_NUMBER() OVER (PARTITION BY content_hash ORDER BY id) = 1
    ) s USING (content_hash)
) s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET content_hash = s.content_hash, embedding = s.embedding,
    model = s.model, token_count = s.token_count, embedded_at = CURRENT_TIMESTAMP(),
    truncated = s.truncated, {set_positions}
WHEN NOT MATCHED THEN INSERT (id, content_hash, embedding, model, token_count, embedded_at,
    truncated, document_id, chunk_index, chunk_start, chunk_end)
    VALUES (s.id, s.content_hash, s.embedding, s.model, s.token_count, CURRENT_TIMESTAMP(),
    s.truncated, s.document_id, s.chunk_index, s.chunk_start, s.chunk_end)
""".replace("{set_positions}", _SET_POSITIONS)
# exact cosine ranking in plain SQL (scans the table), where VECTOR_SEARCH is not offered;
# SAFE_DIVIDE leaves zero vectors without a similarity instead of failing
SEARCH_SQL = """
SELECT id, similarity, COALESCE(document_id, id) AS document_id, chunk_start, chunk_end FROM (
    SELECT id, document_id, chunk_start, chunk_end, SAFE_DIVIDE(
        (SELECT SUM(v * @query[OFFSET(i)]) FROM UNNEST(embedding) v WITH OFFSET i),
        SQRT((SELECT SUM(v * v) FROM UNNEST(embedding) v))
            * SQRT((SELECT SUM(q * q) FROM UNNEST(@query) q))
    ) AS similarity
    FROM {table} WHERE ARRAY_LENGTH(embedding) = ARRAY_LENGTH(@query)
)
WHERE similarity IS NOT NULL AND NOT IS_NAN(similarity)
QUALIFY ROW_NUMBER() OVER (PARTITION BY COALESCE(document_id, id) ORDER BY similarity DESC, id) = 1
ORDER BY similarity DESC, id LIMIT @k
"""
# chunks nearest first, then each document once by its best chunk: top_k is @fetch (several
# chunks per document asked for) so that @k documents remain
VECTOR_SEARCH_SQL = """
SELECT base.id AS id, 1 - distance AS similarity,
    COALESCE(base.document_id, base.id) AS document_id, base.chunk_start AS chunk_start,
    base.chunk_end AS chunk_end
FROM VECTOR_SEARCH(TABLE {table}, 'embedding', (SELECT @query AS embedding), top_k => @fetch,
    distance_type => 'COSINE')
WHERE NOT IS_NAN(distance)
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY COALESCE(base.document_id, base.id) ORDER BY distance, base.id) = 1
ORDER BY distance, id LIMIT @k
"""
# chunks asked of VECTOR_SEARCH per document wanted
VECTOR_SEARCH_FETCH = 10

_POSITION_FIELDS = [
    bigquery.SchemaField("document_id", "STRING"),
    bigquery.SchemaField("chunk_index", "INT64"),
    bigquery.SchemaField("chunk_start", "INT64"),
    bigquery.SchemaField("chunk_end", "INT64"),
]
# the Arrow rows a store takes, as BigQuery loads them
ROW_FIELDS = [
    bigquery.SchemaField("id", "STRING"),
    bigquery.SchemaField("content_hash", "STRING"),
    bigquery.SchemaField("embedding", "FLOAT64", mode="REPEATED"),
    bigquery.SchemaField("model", "STRING"),
    bigquery.SchemaField("token_count", "INT64"),
    bigquery.SchemaField("embedded_at", "TIMESTAMP"),
    bigquery.SchemaField("truncated", "BOOL"),
    *_POSITION_FIELDS,
]
# the key and position columns of reuse's {incoming} and of landing's {wanted} tables
KEY_FIELDS = [
    bigquery.SchemaField("id", "STRING"),
    bigquery.SchemaField("content_hash", "STRING"),
    *_POSITION_FIELDS,
]


@dataclass(frozen=True)
class Tables:
    """The names of one generation's tables (within the store's dataset)."""

    rows: str
    failures: str


def live_tables(table: str) -> Tables:
    """The live generation's tables."""
    rows, failures = generation_tables(table, building=False)
    return Tables(rows=rows, failures=failures)


def next_tables(table: str) -> Tables:
    """The tables of the generation being built."""
    rows, failures = generation_tables(table, building=True)
    return Tables(rows=rows, failures=failures)


def generations_from(row: tuple[object, ...] | None, *, holds_chunks: bool) -> Generations:
    """Builds the generations record from an owners row (None: the table was never claimed).

    `holds_chunks` says what the live rows are where the record predates the `chunked` flag.
    """
    if row is None:
        return Generations(serving=None)
    pipeline, model, dimension, task_type, next_model, next_dimension, next_task = row[:7]
    chunked, next_chunked = row[7:]
    serving = TableIdentity(
        str(pipeline),
        str(model),
        int(str(dimension)),
        _text(task_type),
        holds_chunks if chunked is None else bool(chunked),
    )
    if next_model is None:
        return Generations(serving=serving)
    building = TableIdentity(
        str(pipeline),
        str(next_model),
        int(str(next_dimension)),
        _text(next_task),
        bool(next_chunked),
    )
    return Generations(serving=serving, building=building)


# one row when the rows table holds chunks (run only for owners records without the flag)
HOLDS_CHUNKS_SQL = "SELECT 1 FROM {table} WHERE chunk_start IS NOT NULL LIMIT 1"


def read_generations(
    client: bigquery.Client, table: str, *, owners: str, live: str, live_exists: Callable[[], bool]
) -> Generations:
    """The generations record of `table` (`owners` and `live`, the live rows, quoted).

    Only a record written before it said which kind of rows it holds looks at the live rows
    (`live_exists` is asked then, not on every read).
    """
    rows = query_rows(
        client,
        f"SELECT {OWNERS_COLUMNS} FROM {owners} WHERE table_name = @table",
        {"table": table},
    )
    unflagged = bool(rows) and rows[0][7] is None and live_exists()
    holds_chunks = unflagged and bool(query_rows(client, HOLDS_CHUNKS_SQL.format(table=live)))
    return generations_from(rows[0] if rows else None, holds_chunks=holds_chunks)


def add_columns(client: bigquery.Client, table_id: str, table: str, added: dict[str, str]) -> None:
    """Adds the `added` columns (name: type) that `table_id` (quoted: `table`) lacks."""
    have = {field.name for field in client.get_table(table_id).schema}
    for column, kind in added.items():
        if column not in have:
            run_query(client, ROWS_MIGRATION.format(table=table, column=column, kind=kind))


def read_stats(client: bigquery.Client, table_id: str, *, dimension: int) -> StoreStats:
    """What the checks and the asset's page need to know about a rows table."""
    table = f"`{table_id}`"
    row = query_rows(client, STATS_SQL.format(table=table), {"dimension": dimension})[0]
    truncated = int(str(row[4] or 0))
    examples = (
        query_rows(client, TRUNCATED_IDS_SQL.format(table=table), {"limit": TRUNCATED_EXAMPLES})
        if truncated
        else []
    )
    return StoreStats(
        rows=int(str(row[0])),
        wrong_dimension=int(str(row[1])),
        non_finite=int(str(row[2] or 0)),
        tokens=int(str(row[3])),
        truncated=truncated,
        truncated_examples=tuple(str(r[0]) for r in examples),
        columns=tuple(column_types(client.get_table(table_id).schema)),
    )


def column_types(schema: Sequence[bigquery.SchemaField]) -> list[tuple[str, str]]:
    """`(name, type)` of each column, a repeated field as `ARRAY<type>`."""
    return [
        (field.name, f"ARRAY<{field.field_type}>" if field.mode == "REPEATED" else field.field_type)
        for field in schema
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)
