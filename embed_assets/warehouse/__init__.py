"""The warehouse-native path: every step that touches rows is a SQL job in BigQuery.

It serves pipelines whose corpus, staging and table are all in BigQuery; the Dagster process
sends SQL and reads counts. This package imports nothing at its top, so `jobs.handler` can
use `warehouse.land` while `warehouse.submit` uses `jobs.handler`.
"""
