"""Where a pipeline's rows live: each placement's half of the seam `jobs.rows` declares.

`process/` keeps them in this process, as Parquet files DuckDB reads; `bigquery/` keeps them in
BigQuery, where every step that touches them is a SQL job. Neither imports the other; what both
use (row labels, shard ranges, the `RowPlacement` protocol) is `jobs.rows`, and the lifecycle
that drives either is `jobs.handler`'s.
"""
