"""Chunking in BigQuery: the staged documents into chunk rows by a JavaScript UDF, in one SQL job.

The UDF is `corpus/chunking.js`, the same rule as `corpus.chunking` with the Vertex models'
token estimate, so a document gets the same chunks (ids `<document>#<index>`, offsets, texts
and content hashes) as on the in-process path; no row passes through this process. A rejected
document stays one row with its reason and no place, as in `corpus.chunk_rows.chunk_corpus`.
"""

from dataclasses import dataclass
from importlib import resources

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import bigquery

from embed_assets.bigquery.client import query_rows, run_query
from embed_assets.errors import CorpusError
from embed_assets.placements.bigquery.sql import NO_POSITIONS

# the body goes into a raw triple-quoted string, so it holds no `"""` (tests/placements/bigquery checks)
CHUNKING_JS = resources.files("embed_assets.corpus").joinpath("chunking.js").read_text("utf-8")

CHUNK_FUNCTION_SQL = f'''
CREATE TEMP FUNCTION chunk_spans(
    text STRING, title STRING, max_tokens FLOAT64, overlap_tokens FLOAT64)
RETURNS ARRAY<STRUCT<chunk_start FLOAT64, chunk_end FLOAT64>>
LANGUAGE js AS r"""{CHUNKING_JS}""";
'''

# {documents}: the validated, hashed documents (`placements.bigquery.sql.CORPUS_SQL`); @prefix as there;
# run after CHUNK_FUNCTION_SQL, in the same script
CHUNKS_SQL = """
CREATE OR REPLACE TABLE {target} AS
WITH spans AS (
    SELECT d.row_number, d.id AS document_id, d.content AS text, d.title, span, place
    FROM {documents} d,
        UNNEST(chunk_spans(d.content, d.title, @max_tokens, @overlap_tokens)) AS span
        WITH OFFSET AS place
    WHERE d.reason IS NULL
),
chunks AS (
    SELECT row_number, document_id, title, place AS chunk_index,
        CAST(span.chunk_start AS INT64) AS chunk_start,
        CAST(span.chunk_end AS INT64) AS chunk_end,
        SUBSTR(text, CAST(span.chunk_start AS INT64) + 1,
            CAST(span.chunk_end - span.chunk_start AS INT64)) AS content
    FROM spans
)
SELECT row_number, CONCAT(document_id, '#', CAST(chunk_index AS STRING)) AS id, content, title,
    CAST(NULL AS STRING) AS reason,
    TO_HEX(SHA256(CONCAT(@prefix, COALESCE(title, ''), CODE_POINTS_TO_STRING([31]), content)))
        AS content_hash,
    document_id, chunk_index, chunk_start, chunk_end
FROM chunks
UNION ALL
SELECT row_number, id, content, title, reason, content_hash, {no_positions}
FROM {documents} WHERE reason IS NOT NULL
"""


@dataclass(frozen=True)
class ChunkingSQL:
    """The chunking of a warehouse-native pipeline, resolved for its model.

    Attributes:
        max_tokens: the most tokens a chunk holds, title included (`corpus.chunk_rows.chunk_budget`).
        overlap_tokens: tokens of the previous chunk repeated at a chunk's start.
    """

    max_tokens: int
    overlap_tokens: int


def stage_chunks(
    client: bigquery.Client,
    *,
    documents: str,
    target: str,
    chunking: ChunkingSQL,
    hash_prefix: str,
) -> int:
    """Writes `target` (the staged corpus, one row per chunk) from the staged `documents`.

    Returns:
        The documents staged (rows read from the source).

    Raises:
        CorpusError: BigQuery refused the job (a title that leaves no room for text, say).
    """
    try:
        run_query(
            client,
            CHUNK_FUNCTION_SQL
            + CHUNKS_SQL.format(target=target, documents=documents, no_positions=NO_POSITIONS),
            {
                "max_tokens": float(chunking.max_tokens),
                "overlap_tokens": float(chunking.overlap_tokens),
                "prefix": hash_prefix,
            },
        )
    except GoogleAPICallError as error:
        # the job's first error is the UDF's own message; the exception's text adds job lines
        first = (error.errors or [{}])[0].get("message") or str(error.message).splitlines()[0]
        raise CorpusError(f"the corpus could not be chunked in BigQuery: {first}") from error
    ((count,),) = query_rows(client, f"SELECT COUNT(*) FROM {documents}")
    return int(str(count))
