"""The Dagster face of one pipeline: the spec, its assets, checks, sensor and metadata."""
