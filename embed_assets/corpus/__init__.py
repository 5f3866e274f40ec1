"""A corpus: read from its source, validated row by row with reasons, hashed for the diff."""
