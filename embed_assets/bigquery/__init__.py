"""BigQuery client helpers: one client factory (emulator or dagster-gcp), queries, scratch tables."""
