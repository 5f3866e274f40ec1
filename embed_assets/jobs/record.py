"""The submission record: what `embedding_batch_job` submitted, kept in its metadata.

The record is the contract between the batch-job asset, the sensor and the embeddings asset:
it is written once as materialization metadata and read back from the Dagster instance.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import orjson

RECORD_KEY = "embed_assets/submission"
LABEL_PIPELINE = "embed-assets-pipeline"
LABEL_SUBMISSION = "embed-assets-submission"
LABEL_SHARD = "embed-assets-shard"
RUN_TAG_SUBMISSION = "embed_assets/submission_id"


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
        corpus_rows: rows the corpus source had.
        accepted_rows: rows that passed validation.
        rejected_rows: rows rejected by validation.
        prompts: distinct texts submitted.
        characters: characters submitted.
        unchanged_rows: rows already in the store with the same hash.
        reused_rows: rows whose vector exists in the store under another id.
        stale_rows: stored rows to delete or replace (ids that left or changed).
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

    @property
    def needs_landing(self) -> bool:
        """True when the embeddings table has something to change."""
        return bool(self.jobs or self.reused_rows or self.stale_rows)

    def job_labels(self, shard: int) -> dict[str, str]:
        """Returns the labels that identify one shard's job (lowercase, as Vertex requires)."""
        return {
            LABEL_PIPELINE: label_value(self.pipeline),
            LABEL_SUBMISSION: label_value(self.submission_id),
            LABEL_SHARD: f"{shard:05d}",
        }

    def to_json(self) -> dict[str, Any]:
        """Returns the record as plain JSON-able data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Submission":
        """Reads a record written by `to_json`."""
        fields = dict(data)
        fields["jobs"] = tuple(SubmittedJob(**job) for job in fields.get("jobs", ()))
        return cls(**fields)

    def to_metadata(self) -> dict[str, Any]:
        """Returns materialization metadata: the full record plus readable summary entries."""
        jobs_table = "\n".join(
            ["| shard | job | prompts | input |", "|---|---|---|---|"]
            + [
                f"| {j.shard} | {f'[{j.name}]({j.url})' if j.url else j.name} | {j.prompts} "
                f"| `{j.input_uri}` |"
                for j in self.jobs
            ]
        )
        return {
            RECORD_KEY: dg.MetadataValue.json(self.to_json()),
            "submission_id": dg.MetadataValue.text(self.submission_id),
            "model": dg.MetadataValue.text(self.model),
            "jobs": dg.MetadataValue.int(len(self.jobs)),
            "job_names": dg.MetadataValue.md(jobs_table if self.jobs else "no job: nothing new"),
            "prompts": dg.MetadataValue.int(self.prompts),
            "characters": dg.MetadataValue.int(self.characters),
            "corpus_rows": dg.MetadataValue.int(self.corpus_rows),
            "rejected_rows": dg.MetadataValue.int(self.rejected_rows),
            "unchanged_rows": dg.MetadataValue.int(self.unchanged_rows),
            "reused_rows": dg.MetadataValue.int(self.reused_rows),
            "stale_rows": dg.MetadataValue.int(self.stale_rows),
            "manifest_uri": dg.MetadataValue.path(self.manifest_uri),
            "output_uri": dg.MetadataValue.path(self.output_uri),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "Submission | None":
        """Reads the record back from materialization metadata (None if it has none)."""
        entry = metadata.get(RECORD_KEY)
        if entry is None:
            return None
        data = getattr(entry, "data", entry)
        if isinstance(data, (str, bytes)):
            data = orjson.loads(data)
        return cls.from_json(data)


def label_value(text: str) -> str:
    """Makes a Vertex label value: lowercase letters, digits, `-` and `_`, at most 63 chars."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text.lower())
    return cleaned[:63]


def latest_submission(instance: dg.DagsterInstance, job_asset: dg.AssetKey) -> Submission | None:
    """Returns the record of the latest materialization of the batch-job asset."""
    event = instance.get_latest_materialization_event(job_asset)
    if event is None or event.asset_materialization is None:
        return None
    return Submission.from_metadata(event.asset_materialization.metadata)


def find_submission(
    instance: dg.DagsterInstance, job_asset: dg.AssetKey, submission_id: str, *, search: int = 50
) -> Submission | None:
    """Returns the record with this id among the latest `search` materializations."""
    records = instance.fetch_materializations(job_asset, limit=search).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        submission = Submission.from_metadata(materialization.metadata)
        if submission is not None and submission.submission_id == submission_id:
            return submission
    return None
