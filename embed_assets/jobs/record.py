"""The submission record: what one refresh submitted, and the labels its jobs carry.

The record is the contract between the batch-job asset, the sensor and the embeddings asset.
`embed_assets.pipeline.metadata` writes it as materialization metadata and reads it back.
"""

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from embed_assets.store.base import table_name

LABEL_PIPELINE = "embed-assets-pipeline"
LABEL_SUBMISSION = "embed-assets-submission"
LABEL_SHARD = "embed-assets-shard"


@dataclass(frozen=True)
class SubmittedJob:
    """One batch job of a submission: one request shard."""

    shard: int
    name: str
    display_name: str
    input_uri: str
    prompts: int
    characters: int
    url: str | None = None
    adopted: bool = False  # created by an earlier, interrupted submission and paid for there


@dataclass(frozen=True)
class Submission:
    """Everything a later step needs to land a submission.

    Attributes:
        submission_id: unique per submission; the sensor's run key.
        pipeline: the pipeline name.
        model: the model the prompts were embedded with.
        task_type: the task type sent with every prompt.
        output_dimensionality: the requested vector length (None: the model's own).
        manifest_uri: Parquet file of every corpus row with its hash and plan.
        output_uri: prefix under which the jobs write their predictions.
        jobs: the batch jobs, one per shard.
        corpus_rows: rows of the corpus: source rows, or with chunking chunk rows (and each
            rejected document).
        accepted_rows: rows that passed validation.
        rejected_rows: rows rejected by validation.
        prompts: distinct texts submitted.
        characters: characters submitted.
        tokens: their tokens, estimated never to fall short (0: not counted).
        unchanged_rows: rows already in the store with the same hash.
        reused_rows: rows whose vector exists in the store under another id.
        stale_rows: stored rows to delete or replace (ids that left or changed).
        rejected_by_reason: rejected rows counted per reason.
        adopted_prompts: prompts of earlier submissions' jobs this one waits for and lands
            (paid for there, not here).
        rows_landed_while_planning: rows written to the table from earlier submissions'
            finished jobs while this one was planned.
        warehouse: planned and landed in BigQuery (the manifest is a table there).
        documents: rows the corpus source had (0 in records written before it was kept).
        chunked: the rows are chunks of documents.
    """

    submission_id: str
    pipeline: str
    model: str
    task_type: str | None
    output_dimensionality: int | None
    manifest_uri: str
    output_uri: str
    jobs: tuple[SubmittedJob, ...]
    corpus_rows: int
    accepted_rows: int
    rejected_rows: int
    prompts: int
    characters: int
    unchanged_rows: int
    reused_rows: int
    stale_rows: int
    rejected_by_reason: Mapping[str, int] = dataclasses.field(default_factory=dict)
    tokens: int = 0
    adopted_prompts: int = 0
    rows_landed_while_planning: int = 0
    warehouse: bool = False
    documents: int = 0
    chunked: bool = False

    @property
    def needs_landing(self) -> bool:
        """True when the embeddings asset has something to record or change.

        Rows landed from earlier jobs while planning changed the table already: the landing
        run still follows, so the embeddings asset records what the table now holds.
        """
        return bool(
            self.jobs or self.reused_rows or self.stale_rows or self.rows_landed_while_planning
        )

    def job_labels(self, shard: int) -> dict[str, str]:
        """Returns the labels that identify one shard's job (lowercase, as Vertex requires)."""
        return {
            LABEL_PIPELINE: pipeline_label(self.pipeline),
            LABEL_SUBMISSION: label_value(self.submission_id),
            LABEL_SHARD: f"{shard:05d}",
        }

    def to_json(self) -> dict[str, Any]:
        """Returns the record as plain JSON-able data."""
        data = dataclasses.asdict(self)
        data["rejected_by_reason"] = dict(self.rejected_by_reason)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Submission":
        """Reads a record written by `to_json`."""
        fields = dict(data)
        fields["jobs"] = tuple(SubmittedJob(**job) for job in fields.get("jobs", ()))
        return cls(**fields)


def label_value(text: str) -> str:
    """Makes a Vertex label value: lowercase letters, digits, `-` and `_`, at most 63 chars."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text.lower())
    return cleaned[:63]


def pipeline_label(pipeline: str) -> str:
    """The label that says which pipeline a job belongs to, exactly: `docs-1f2e3d4c`.

    A label value is lowercase, so the name alone would give `Docs` and `docs` (one project,
    two tables) the same label, and each would adopt or cancel the other's jobs. The name is
    kept readable, followed by a hash of the exact name and of its table.
    """
    digest = hashlib.sha256(f"{pipeline}\x1f{table_name(pipeline)}".encode()).hexdigest()[:8]
    return f"{label_value(pipeline)[:54]}-{digest}"
