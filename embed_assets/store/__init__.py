"""Embedding stores: the table of vectors, keyed by id and content hash."""

from embed_assets.store.base import EmbeddingStore, StoreStats, embedding_rows
from embed_assets.store.duckdb import DuckDBEmbeddingStore

__all__ = ["DuckDBEmbeddingStore", "EmbeddingStore", "StoreStats", "embedding_rows"]
