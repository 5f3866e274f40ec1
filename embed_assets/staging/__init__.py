"""Staging locations: where request shards, manifests and predictions are kept (files or tables)."""
