"""The SQL of the warehouse-native path: validation, hashing, the diff, shards and prompts tables.

Each statement mirrors a Python step of the in-process path and gives the same answer:
`corpus.validation` (the same reasons, in the same order of precedence), `corpus.hashing`
(hex SHA-256 of `model␟task_type␟dimensionality␟title␟text`) and `placements.process.plan` (rejected,
unchanged, reuse, submit; balanced shards of distinct texts, in hash order).
"""

from embed_assets.corpus.validation import (
    REASON_BAD_ID,
    REASON_EMPTY_CONTENT,
    REASON_FRACTIONAL_ID,
    REASON_INVISIBLE_CONTENT,
    REASON_MISSING_CONTENT,
    REASON_MISSING_ID,
    REASON_NOT_TEXT,
)
from embed_assets.jobs.rows import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT, PLAN_UNCHANGED

# white space as Arrow's utf8_is_space sees it, and a character that shows (as in validation)
BLANK_PATTERN = r"^[\s\x{0B}\x{85}\p{Z}]*$"
VISIBLE_PATTERN = r"[^\s\p{Z}\p{Cc}\p{Cf}]"


def id_expression(kind: str, column: str) -> tuple[str, str]:
    """The id as text and the reason a row has none, for a source column of BigQuery type `kind`."""
    value = f"src.`{column}`"
    if kind == "STRING":
        return (
            f"IF(TRIM({value}) = '', NULL, {value})",
            f"IF({value} IS NULL OR TRIM({value}) = '', '{REASON_MISSING_ID}', NULL)",
        )
    if kind in ("INTEGER", "INT64", "NUMERIC", "BIGNUMERIC"):
        return (
            f"CAST({value} AS STRING)",
            f"IF({value} IS NULL, '{REASON_MISSING_ID}', NULL)",
        )
    if kind in ("FLOAT", "FLOAT64"):
        whole = f"(NOT IS_INF({value}) AND {value} = TRUNC({value}))"
        return (
            f"IF({whole}, CAST(CAST({value} AS INT64) AS STRING), NULL)",
            f"CASE WHEN {value} IS NULL OR IS_NAN({value}) THEN '{REASON_MISSING_ID}' "
            f"WHEN NOT {whole} THEN '{REASON_FRACTIONAL_ID}' END",
        )
    return "CAST(NULL AS STRING)", f"IF({value} IS NULL, '{REASON_MISSING_ID}', '{REASON_BAD_ID}')"


def content_reason(kind: str, column: str) -> str:
    """The reason a row's text cannot be embedded (NULL when it can)."""
    value = f"src.`{column}`"
    if kind != "STRING":
        return f"IF({value} IS NULL, '{REASON_MISSING_CONTENT}', '{REASON_NOT_TEXT}')"
    return (
        f"CASE WHEN {value} IS NULL THEN '{REASON_MISSING_CONTENT}' "
        f"WHEN REGEXP_CONTAINS({value}, r'{BLANK_PATTERN}') THEN '{REASON_EMPTY_CONTENT}' "
        f"WHEN NOT REGEXP_CONTAINS({value}, r'{VISIBLE_PATTERN}') "
        f"THEN '{REASON_INVISIBLE_CONTENT}' END"
    )


# the position columns of chunk rows (`store.base.POSITION_COLUMNS`), and their NULLs for rows that
# are whole documents; staged corpus, planning and manifest tables carry them
POSITIONS = "document_id, chunk_index, chunk_start, chunk_end"
NO_POSITIONS = (
    "CAST(NULL AS STRING) AS document_id, CAST(NULL AS INT64) AS chunk_index, "
    "CAST(NULL AS INT64) AS chunk_start, CAST(NULL AS INT64) AS chunk_end"
)

# {source}: the corpus table or `(query)`; @prefix: `model␟task_type␟dimensionality␟`
CORPUS_SQL = """
CREATE OR REPLACE TABLE {target} AS
WITH src AS (SELECT * FROM {source}),
normalized AS (
    SELECT
        ROW_NUMBER() OVER () - 1 AS row_number,
        {id_text} AS id,
        {id_reason} AS id_reason,
        {content_reason} AS content_reason,
        IF({content_reason} IS NULL, src.`{text_column}`, NULL) AS content,
        {title} AS title
    FROM src
),
checked AS (
    SELECT *, COALESCE(
        id_reason,
        IF(COUNT(*) OVER (PARTITION BY id) > 1 AND id_reason IS NULL,
            '{duplicate}', NULL),
        content_reason
    ) AS reason
    FROM normalized
)
SELECT row_number, id, content, title, reason,
    IF(reason IS NULL,
        TO_HEX(SHA256(CONCAT(@prefix, COALESCE(title, ''), CODE_POINTS_TO_STRING([31]),
            content))),
        NULL) AS content_hash,
    {no_positions}
FROM checked
"""


def title_expression(kind: str | None, column: str | None) -> str:
    """The title as text, NULL when missing or empty."""
    if column is None or kind is None:
        return "CAST(NULL AS STRING)"
    text = f"src.`{column}`" if kind == "STRING" else f"CAST(src.`{column}` AS STRING)"
    return f"NULLIF({text}, '')"


# a row's 60-bit digest: the first 15 hex digits of a SHA-256 (FARM_FINGERPRINT would do on
# BigQuery, but the emulator runs it row by row in Python, 40 s per 300,000 rows)
DIGEST = "CAST(CONCAT('0x', SUBSTR({hex}, 1, 15)) AS INT64)"
CORPUS_COUNTS_SQL = f"""
SELECT COALESCE(reason, '') AS reason, COUNT(*) AS n,
    BIT_XOR({
    DIGEST.format(
        hex="TO_HEX(SHA256(CONCAT(COALESCE(id, ''), '|', "
        "COALESCE(content_hash, ''), '|', COALESCE(reason, ''))))"
    )
}) AS digest
FROM {{corpus}}
GROUP BY 1
"""
REJECTED_EXAMPLES_SQL = """
SELECT row_number, id, reason FROM {corpus} WHERE reason IS NOT NULL
ORDER BY row_number LIMIT @examples
"""

# every corpus row with its plan (the shard is set when the manifest is written); as in
# `placements.process.plan.plan_refresh`, a stored chunk whose text is the same but whose place moved is reused
PLAN_SQL = f"""
CREATE OR REPLACE TABLE {{target}} AS
SELECT c.id, c.content_hash, c.content, c.title, c.reason, CASE
    WHEN c.reason IS NOT NULL THEN '{PLAN_REJECTED}'
    WHEN s.id IS NOT NULL THEN '{PLAN_UNCHANGED}'
    WHEN k.content_hash IS NOT NULL THEN '{PLAN_REUSE}'
    ELSE '{PLAN_SUBMIT}' END AS plan,
    c.document_id, c.chunk_index, c.chunk_start, c.chunk_end
FROM {{corpus}} c
LEFT JOIN (
    SELECT id, content_hash, MIN(chunk_start) AS chunk_start, MIN(chunk_end) AS chunk_end
    FROM {{stored}} GROUP BY id, content_hash
) s ON s.id = c.id AND s.content_hash = c.content_hash
    AND (s.chunk_start IS NULL OR (s.chunk_start IS NOT DISTINCT FROM c.chunk_start
        AND s.chunk_end IS NOT DISTINCT FROM c.chunk_end))
LEFT JOIN (SELECT DISTINCT content_hash FROM {{stored}}) k ON k.content_hash = c.content_hash
"""
PLAN_COUNTS_SQL = f"""
SELECT
    (SELECT COUNT(*) FROM {{plan}}) AS corpus_rows,
    (SELECT COUNTIF(plan = '{PLAN_REJECTED}') FROM {{plan}}) AS rejected,
    (SELECT COUNTIF(plan = '{PLAN_UNCHANGED}') FROM {{plan}}) AS unchanged,
    (SELECT COUNTIF(plan = '{PLAN_REUSE}') FROM {{plan}}) AS reuse,
    (SELECT COUNT(*) FROM {{stored}}) AS stored,
    (SELECT COUNT(*) FROM {{stored}} s WHERE NOT EXISTS (
        SELECT 1 FROM {{plan}} c WHERE c.reason IS NULL AND c.id = s.id)) AS deleted,
    (SELECT COUNT(DISTINCT content_hash) FROM {{plan}} WHERE plan = '{PLAN_SUBMIT}') AS prompts,
    (SELECT COUNTIF(chunk_start IS NOT NULL) FROM {{stored}}) AS stored_chunks,
    (SELECT COUNTIF(chunk_start IS NOT NULL) FROM {{plan}}) AS planned_chunks,
    (SELECT BIT_XOR({DIGEST.format(hex="content_hash")}) FROM (
        SELECT DISTINCT content_hash FROM {{plan}} WHERE plan = '{PLAN_SUBMIT}')) AS digest
"""
# the needed texts an earlier job's prompts table holds
HELD_SQL = f"""
SELECT COUNT(DISTINCT p.key) FROM {{prompts}} p
JOIN {{plan}} c ON c.content_hash = p.key AND c.plan = '{PLAN_SUBMIT}'
"""
# the manifest: adopted jobs' texts take their shard; the rest are dealt into balanced shards
MANIFEST_SQL = f"""
CREATE OR REPLACE TABLE {{target}} AS
WITH adopted AS ({{adopted}}),
needed AS (
    SELECT content_hash FROM {{plan}} WHERE plan = '{PLAN_SUBMIT}' GROUP BY content_hash
),
fresh AS (
    SELECT n.content_hash,
        -- FLOOR of a division, not DIV: the emulator's DIV over ROW_NUMBER() is wrong
        @first + CAST(FLOOR((ROW_NUMBER() OVER (ORDER BY n.content_hash) - 1) / @size) AS INT64)
            AS shard
    FROM needed n LEFT JOIN adopted a ON a.content_hash = n.content_hash
    WHERE a.content_hash IS NULL
),
shards AS (SELECT content_hash, shard FROM adopted UNION ALL SELECT content_hash, shard FROM fresh)
SELECT c.id, c.content_hash, c.content, c.title, c.reason, c.plan,
    IF(c.plan = '{PLAN_SUBMIT}', COALESCE(s.shard, -1), -1) AS shard,
    c.document_id, c.chunk_index, c.chunk_start, c.chunk_end
FROM {{plan}} c LEFT JOIN shards s ON s.content_hash = c.content_hash
"""
# one adopted job's needed texts (joined with UNION ALL into the `adopted` above)
ADOPTED_SQL = "SELECT DISTINCT key AS content_hash, {shard} AS shard FROM {prompts}"
NOTHING_ADOPTED_SQL = (
    "SELECT CAST(NULL AS STRING) AS content_hash, 0 AS shard FROM UNNEST([1]) x WHERE false"
)
SHARD_COUNTS_SQL = f"""
SELECT shard, COUNT(DISTINCT content_hash) AS prompts, SUM(LENGTH(content)) AS characters
FROM (SELECT DISTINCT shard, content_hash, content FROM {{manifest}}
      WHERE plan = '{PLAN_SUBMIT}')
GROUP BY shard ORDER BY shard
"""
PROMPTS_SQL = f"""
CREATE OR REPLACE TABLE {{target}} AS
SELECT ANY_VALUE(content) AS content, NULLIF(@task_type, '') AS task_type,
    ANY_VALUE(title) AS title, content_hash AS key
FROM {{manifest}} WHERE plan = '{PLAN_SUBMIT}' AND shard = @shard
GROUP BY content_hash
"""
