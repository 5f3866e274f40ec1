"""What each `EmbeddingPipeline` field means, as code: the YAML Component's descriptions.

`EmbeddingPipeline`'s docstring says the same under "Attributes" (a test holds the two word for
word); these are what run, as docstrings are gone under `python -OO`.
"""

from collections.abc import Mapping

FIELD_DESCRIPTIONS: Mapping[str, str] = {
    "name": (
        "Pipeline name (letters, digits, `_`): the default asset key prefix and group, and the "
        "sensor, resource key and table names, all derive from it."
    ),
    "corpus": (
        "A JSONL / CSV / Parquet path or `gs://` URI, a BigQuery table "
        "(`bq://project.dataset.table`) or `BigQueryQuery`, a function returning a DataFrame, or "
        "the key of an upstream asset whose value is a DataFrame."
    ),
    "model": (
        "Embedding model, by name or (a model the library does not list) as a `ModelSpec`; "
        "defaults to all-MiniLM-L6-v2 when the `local` extra is installed, else the lexical "
        "hashing model."
    ),
    "task_type": "Sent with every prompt, e.g. `RETRIEVAL_DOCUMENT`.",
    "id_column": "The corpus column holding unique row ids.",
    "text_column": "The corpus column holding the text to embed.",
    "title_column": "Optional column holding a title sent with each text.",
    "output_dimensionality": "Requested vector length (None: the model's own).",
    "auto_truncate": "Let the model cut long inputs (else such rows fail and are reported).",
    "chunking": (
        "Split each document into chunks within the model's input limit (`Chunking(max_tokens=..., "
        "overlap_tokens=...)`); the table then holds one row per chunk, `id` `<document id>#<chunk "
        "index>`, with `document_id`, `chunk_index`, `chunk_start` and `chunk_end`. None: one row "
        "per document."
    ),
    "max_prompts_per_job": "Prompts per batch job; defaults to the model's per-job limit.",
    "max_rejected_fraction": (
        "Above this fraction of rejected rows the corpus check fails and blocks the refresh: "
        "nothing is submitted or deleted."
    ),
    "max_deleted_fraction": (
        "A refresh that would delete more than this fraction of the stored rows submits nothing and "
        "deletes nothing."
    ),
    "max_estimated_cost_usd": (
        "A refresh whose estimated cost (list prices) is above this submits nothing and deletes "
        "nothing, unless its run allows it (run config `allow_over_budget`, CLI "
        "`--allow-over-budget`); None: no limit."
    ),
    "max_prompts_per_refresh": "The same limit on the prompts one refresh submits.",
    "min_coverage": (
        "The coverage check warns below this fraction of accepted rows embedded; after a change of "
        "model, dimension or task type, the new vectors replace the old ones only once they cover "
        "this fraction."
    ),
    "sensor_interval_seconds": "Seconds between sensor ticks.",
    "encoding": "Text encoding of a CSV or JSONL corpus file.",
    "keep_staging": (
        "Keep request and prediction files after landing (default: they are deleted once landed; "
        "each submission's manifest is always kept)."
    ),
    "placement": (
        'Where the rows live: `"warehouse"` (BigQuery, with SQL), `"process"`, or `"auto"` (the '
        "warehouse when the resources a run has bound can, else the process, saying why in its "
        "log)."
    ),
    "automation_condition": (
        "When `corpus` and `embedding_batch_job` refresh by themselves (default "
        "`AutomationCondition.eager()`: as soon as the source changes; e.g. "
        '`AutomationCondition.on_cron("0 3 * * *")` for nightly; None: only on request).'
    ),
    "observe_cron": (
        "How often a corpus file, `gs://` object or BigQuery source is observed (a cheap "
        "fingerprint: size and mtime, generation and MD5, or the tables' last-modified times), "
        "a cron string in UTC; an observation is recorded, with no run, only when the source "
        "changed; None: never by itself."
    ),
    "backend_key": "Resource key of the batch backend (default `<name>_embedding_backend`).",
    "store_key": "Resource key of the embedding store (default `<name>_embedding_store`).",
    "key_prefix": (
        "The asset keys' prefix (default: the name), e.g. "
        '`["search", "docs"]` for '
        "`search/docs/embeddings`; the sensor and the landing follow it."
    ),
    "group_name": "The asset group of every asset of the pipeline (default: the name).",
    "owners": "Owners of every asset of the pipeline (`team:search`, `ana@example.com`).",
    "tags": "Tags of every asset of the pipeline.",
    "descriptions": (
        "A description per asset, replacing the default one; keys are `source`, `corpus`, "
        "`embedding_batch_job` and `embeddings`."
    ),
    "translator": (
        "An `AssetSpecTranslator` that changes anything else of each asset's spec (Python only; "
        "YAML uses Dagster's `post_processing`)."
    ),
}
