"""A corpus: read from its source, validated row by row with reasons, hashed for the diff."""

from embed_assets.corpus.bigquery import BigQueryQuery, read_bigquery_corpus
from embed_assets.corpus.hashing import (
    arrow_strings,
    content_hashes,
    hash_column,
    normalized_corpus,
)
from embed_assets.corpus.sources import SUPPORTED_SUFFIXES, read_corpus_file
from embed_assets.corpus.validation import (
    CorpusColumns,
    CorpusError,
    ValidatedCorpus,
    check_columns,
    validate_corpus,
)

__all__ = [
    "BigQueryQuery",
    "SUPPORTED_SUFFIXES",
    "CorpusColumns",
    "CorpusError",
    "ValidatedCorpus",
    "arrow_strings",
    "check_columns",
    "content_hashes",
    "hash_column",
    "normalized_corpus",
    "read_bigquery_corpus",
    "read_corpus_file",
    "validate_corpus",
]
