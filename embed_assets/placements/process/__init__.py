"""Rows in this process: files DuckDB reads.

The prepared corpus, the stored keys, the plan and the manifest are Parquet files; request
shards and predictions go through the backend's staging.
"""
