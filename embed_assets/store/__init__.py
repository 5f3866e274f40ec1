"""Embedding stores: the table of vectors, keyed by id and content hash."""
