"""The warehouse-native path: every step that touches rows is a SQL job in BigQuery.

It serves pipelines whose corpus, staging and table are all in BigQuery; the Dagster process
sends SQL and reads counts. `WarehousePlacement` is the `jobs.rows.RowPlacement` the pipeline
binds then; the lifecycle itself is `jobs.handler`'s, the same as for rows in this process.
"""
