"""Landing a finished submission: read every prediction file, join by hash, update the store.

Prediction files are read one at a time and upserted as they are read, so memory is bounded by
a file, not by the submission. Rows are matched to the submission by content hash (recomputed
from the echoed instance, or the Gemini key), never by position. Rows that failed are recorded;
the next refresh submits them again because the store still lacks their hash.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.catalog import model_spec, vector_dimension
from embed_assets.corpus import content_hashes
from embed_assets.formats import PredictionBatch, RequestSchema, read_prediction_stream
from embed_assets.prepare import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT
from embed_assets.store.base import EmbeddingStore, embedding_rows
from embed_assets.submission import Submission


class SubmissionNotFinished(RuntimeError):
    """Some jobs of the submission are still running."""


@dataclass
class LandingReport:
    """What landing a submission did, row by row accounted for."""

    submission_id: str
    corpus_rows: int = 0
    embedded_ids: int = 0
    written_rows: int = 0
    reused_rows: int = 0
    deleted_rows: int = 0
    rejected_rows: int = 0
    tokens: int = 0
    prediction_files: int = 0
    job_states: dict[str, str] = field(default_factory=dict)
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["id", "content_hash", "reason"])
    )

    @property
    def failed_rows(self) -> int:
        """Corpus rows whose embedding failed in this submission."""
        return len(self.failures)

    @property
    def accounted(self) -> bool:
        """True when corpus rows = embedded + failed + rejected."""
        return self.corpus_rows == self.embedded_ids + self.failed_rows + self.rejected_rows


def _batch_hashes(batch: PredictionBatch, submission: Submission) -> list[str]:
    if model_spec(submission.model).schema is RequestSchema.GEMINI:
        return batch.keys
    return content_hashes(
        batch.contents,
        batch.titles,
        model=submission.model,
        task_type=submission.task_type,
        output_dimensionality=submission.output_dimensionality,
    )


def land_submission(
    *,
    submission: Submission,
    backend: BatchBackend,
    store: EmbeddingStore,
    log: Callable[[str], None],
) -> LandingReport:
    """Lands every finished job of a submission into the store.

    Args:
        submission: the record written by the batch-job asset.
        backend: where the jobs ran.
        store: the embedding table.
        log: where progress lines go.

    Raises:
        SubmissionNotFinished: a job is not in a terminal state yet.
    """
    statuses: list[JobStatus] = [backend.get(job.name) for job in submission.jobs]
    running = [s.describe() for s in statuses if not s.is_terminal]
    if running:
        raise SubmissionNotFinished(
            f"submission {submission.submission_id} has unfinished jobs: {'; '.join(running)}. "
            "The sensor materializes this asset once every job has finished."
        )
    staging = backend.staging()
    with staging.open_read(submission.manifest_uri) as handle:
        manifest = pq.read_table(handle).to_pandas()
    report = LandingReport(submission_id=submission.submission_id, corpus_rows=len(manifest))
    report.job_states = {s.name: s.state.value for s in statuses}
    submitted = manifest[manifest["plan"] == PLAN_SUBMIT]
    ids_by_hash = submitted.groupby("content_hash", sort=False)["id"].agg(list)
    hash_index = pd.Index(ids_by_hash.index)
    dimension = vector_dimension(submission.model, submission.output_dimensionality)
    landed: set[str] = set()
    failed_reason: dict[str, str] = {}
    for job, status in zip(submission.jobs, statuses, strict=True):
        if not status.state.has_output:
            error = f": {status.error.message}" if status.error else ""
            reason = f"job {status.name} ended {status.state.value}{error}"
            log(reason)
            for content_hash in submitted.loc[submitted["shard"] == job.shard, "content_hash"]:
                failed_reason.setdefault(content_hash, reason)
            continue
        for uri in backend.output_files(status):
            report.prediction_files += 1
            with staging.open_read(uri) as stream:
                batch = read_prediction_stream(stream)
            written, tokens = _land_batch(
                batch, submission, store, hash_index, ids_by_hash, dimension, landed, failed_reason
            )
            report.written_rows += written
            report.tokens += tokens
            log(f"landed {uri}: {report.written_rows} rows written so far")
    for content_hash in submitted["content_hash"].unique():
        if content_hash not in landed and content_hash not in failed_reason:
            failed_reason[content_hash] = "no prediction was returned for this row"
    for content_hash in landed:
        failed_reason.pop(content_hash, None)

    reuse = manifest[manifest["plan"] == PLAN_REUSE]
    report.reused_rows = store.copy_by_hash(submission.pipeline, reuse, submission.model)
    failures = submitted[submitted["content_hash"].isin(failed_reason.keys())]
    report.failures = pd.DataFrame(
        {
            "id": failures["id"].to_numpy(),
            "content_hash": failures["content_hash"].to_numpy(),
            "reason": failures["content_hash"].map(failed_reason).to_numpy(),
        }
    )
    accepted = manifest[manifest["plan"] != PLAN_REJECTED]
    keep = accepted[~accepted["content_hash"].isin(failed_reason.keys())]
    report.deleted_rows = store.delete_except(submission.pipeline, keep)
    store.replace_failures(submission.pipeline, report.failures)
    stored = store.current_hashes(submission.pipeline)
    current = pd.MultiIndex.from_frame(stored[["id", "content_hash"]])
    report.embedded_ids = int(
        pd.MultiIndex.from_frame(accepted[["id", "content_hash"]]).isin(current).sum()
    )
    report.rejected_rows = int((manifest["plan"] == PLAN_REJECTED).sum())
    return report


def _land_batch(
    batch: PredictionBatch,
    submission: Submission,
    store: EmbeddingStore,
    hash_index: pd.Index,
    ids_by_hash: pd.Series,
    dimension: int,
    landed: set[str],
    failed_reason: dict[str, str],
) -> tuple[int, int]:
    """Upserts the good rows of one batch; returns (rows written, tokens)."""
    hashes = np.asarray(_batch_hashes(batch, submission), dtype=object)
    positions = hash_index.get_indexer(pd.Index(hashes))
    ok = batch.ok & (positions >= 0)
    if batch.vectors.shape[1] not in (0, dimension):
        for content_hash in hashes[positions >= 0]:
            failed_reason.setdefault(
                content_hash, f"vector has {batch.vectors.shape[1]} values, expected {dimension}"
            )
        return 0, 0
    finite = np.isfinite(batch.vectors).all(axis=1) if batch.vectors.size else ok
    for row in np.flatnonzero(~batch.ok & (positions >= 0)):
        failed_reason[hashes[row]] = batch.statuses[row]
    for row in np.flatnonzero(ok & ~finite):
        failed_reason[hashes[row]] = "vector has non-finite values"
    good = np.flatnonzero(ok & finite)
    if good.size == 0:
        return 0, 0
    id_lists = ids_by_hash.iloc[positions[good]].to_numpy()
    repeats = np.fromiter((len(ids) for ids in id_lists), dtype=np.int64, count=len(id_lists))
    rows = embedding_rows(
        ids=np.concatenate([np.asarray(ids, dtype=object) for ids in id_lists]),
        content_hashes=np.repeat(hashes[good], repeats),
        vectors=np.repeat(batch.vectors[good], repeats, axis=0),
        token_counts=np.repeat(batch.token_counts[good], repeats),
        model=submission.model,
    )
    landed.update(hashes[good])
    written = store.upsert(submission.pipeline, rows)
    return written, int(batch.token_counts[good].sum())
