"""Staging a BigQuery corpus in BigQuery: validated and hashed by one SQL job, counted by another.

The corpus asset of a warehouse-native pipeline writes `<pipeline>__corpus` in the staging
dataset (every source row: `row_number, id, content, title, reason, content_hash` and the
position columns; with chunking, every chunk of an accepted document and every rejected
document, chunked by `placements.bigquery.chunking_sql`) and returns a `WarehouseCorpus`: the table's address
and counts, never the rows.
"""

import hashlib
from dataclasses import dataclass, field

import pandas as pd
from google.cloud import bigquery

from embed_assets.bigquery.client import (
    TableAddress,
    parse_table_uri,
    query_frame,
    query_rows,
    run_query,
)
from embed_assets.corpus.bigquery_source import BigQueryQuery
from embed_assets.corpus.prepared import RowCounts
from embed_assets.corpus.validation import REASON_DUPLICATE_ID, CorpusColumns, CorpusError
from embed_assets.placements.bigquery.chunking_sql import ChunkingSQL, stage_chunks
from embed_assets.placements.bigquery.sql import (
    CORPUS_COUNTS_SQL,
    CORPUS_SQL,
    NO_POSITIONS,
    REJECTED_EXAMPLES_SQL,
    content_reason,
    id_expression,
    title_expression,
)
from embed_assets.staging.base import TableStorage

EXAMPLES = 5


@dataclass(frozen=True)
class WarehouseCorpus(RowCounts):
    """A validated, hashed corpus that stays in BigQuery.

    Attributes:
        table: `bq://project.dataset.table` of the staged rows.
        rows: rows of the staged table: the source's rows, or with chunking its accepted
            documents' chunks and its rejected documents.
        rejected_by_reason: rejected rows counted per reason.
        version: a fingerprint of the (id, content hash or reason) set.
        rejected_examples: a few rejected rows (`row, id, reason`).
        documents: rows read from the source (0: as many as `rows`).
    """

    table: str
    rows: int
    rejected_by_reason: dict[str, int]
    version: str
    rejected_examples: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["row", "id", "reason"])
    )
    documents: int = 0


def source_sql(corpus: str | BigQueryQuery) -> str:
    """The corpus source as a SQL `FROM` item: a quoted table or a parenthesized query."""
    if isinstance(corpus, BigQueryQuery):
        return f"({corpus.sql})"
    return parse_table_uri(corpus).sql


def _schema(client: bigquery.Client, source: str) -> dict[str, str]:
    """The source's column types (a query's too), from a query that reads no row."""
    result = run_query(client, f"SELECT * FROM {source} LIMIT 0").result()
    return {column.name: column.field_type for column in result.schema}


def stage_corpus(
    *,
    staging: TableStorage,
    pipeline: str,
    corpus: str | BigQueryQuery,
    columns: CorpusColumns,
    hash_prefix: str,
    describe: str,
    chunking: ChunkingSQL | None = None,
) -> WarehouseCorpus:
    """Validates and hashes (and chunks) the corpus into `<pipeline>__corpus` in staging.

    Args:
        staging: the backend's BigQuery staging (its dataset holds the table).
        pipeline: the pipeline's name.
        corpus: `bq://project.dataset.table` or a `BigQueryQuery`.
        columns: the id, text and title columns.
        hash_prefix: `model␟task_type␟dimensionality␟`, as `corpus.hashing` digests it.
        describe: the source, for messages.
        chunking: split the documents into chunks (None: one row per document).

    Raises:
        CorpusError: the source does not exist, or lacks a named column.
    """
    client = staging.client
    source = source_sql(corpus)
    try:
        kinds = _schema(client, source)
    except Exception as error:  # NotFound, BadRequest: one line naming the source
        raise CorpusError(f"corpus {describe} cannot be read: {error}") from error
    wanted = [columns.id_column, columns.text_column, *filter(None, [columns.title_column])]
    missing = [c for c in wanted if c not in kinds]
    if missing:
        raise CorpusError(
            f"corpus {describe} has no column {', '.join(repr(m) for m in missing)}; "
            f"its columns are: {', '.join(kinds) or '(none)'}"
        )
    id_text, id_reason = id_expression(kinds[columns.id_column], columns.id_column)
    title_kind = kinds.get(columns.title_column) if columns.title_column else None
    target = staging.table(staging.join(pipeline, "corpus"))
    documents = staging.table(staging.join(pipeline, "documents")) if chunking else target
    run_query(
        client,
        CORPUS_SQL.format(
            target=documents.sql,
            source=source,
            id_text=id_text,
            id_reason=id_reason,
            content_reason=content_reason(kinds[columns.text_column], columns.text_column),
            text_column=columns.text_column,
            title=title_expression(title_kind, columns.title_column),
            duplicate=REASON_DUPLICATE_ID,
            no_positions=NO_POSITIONS,
        ),
        {"prefix": hash_prefix},
    )
    source_rows = 0
    if chunking is not None:
        source_rows = stage_chunks(
            client,
            documents=documents.sql,
            target=target.sql,
            chunking=chunking,
            hash_prefix=hash_prefix,
        )
        client.delete_table(documents.qualified, not_found_ok=True)
    return _counted(client, target, documents=source_rows)


def _counted(client: bigquery.Client, target: TableAddress, *, documents: int) -> WarehouseCorpus:
    """The staged corpus's counts, fingerprint and rejected examples, read by two queries."""
    counts = query_rows(client, CORPUS_COUNTS_SQL.format(corpus=target.sql))
    rows = sum(int(str(n)) for _, n, _ in counts)
    rejected = {str(reason): int(str(n)) for reason, n, _ in counts if reason}
    digest = hashlib.sha256(repr(sorted((str(r), str(d)) for r, _, d in counts)).encode())
    examples = query_frame(
        client, REJECTED_EXAMPLES_SQL.format(corpus=target.sql), {"examples": EXAMPLES}
    ).rename(columns={"row_number": "row"})
    return WarehouseCorpus(
        table=target.uri,
        rows=rows,
        rejected_by_reason=rejected,
        version=digest.hexdigest()[:16],
        rejected_examples=examples,
        documents=documents,
    )
