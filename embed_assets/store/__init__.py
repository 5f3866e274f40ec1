"""Embedding stores: the table of vectors, keyed by id and content hash."""

from embed_assets.store.base import (
    EmbeddingStore,
    Generations,
    StoreStats,
    TableIdentity,
    TableOwnedError,
    embedding_rows,
)
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.duckdb import DuckDBEmbeddingStore, StoreBusy

__all__ = [
    "BigQueryEmbeddingStore",
    "DuckDBEmbeddingStore",
    "EmbeddingStore",
    "Generations",
    "StoreBusy",
    "StoreStats",
    "TableIdentity",
    "TableOwnedError",
    "embedding_rows",
]
