"""Landing a finished submission: read every prediction file, join by hash, update the store.

A BigQuery prediction table bound for a BigQuery embedding table is landed in BigQuery with
SQL (`store.bigquery_landing`): its vectors never pass through this process.

Prediction files are read one at a time and upserted as they are read, so memory is bounded by
a file, not by the submission. Rows are matched to the submission by content hash (recomputed
from the echoed instance, or the Gemini key), never by position. Rows that failed are recorded;
the next refresh submits them again because the store still lacks their hash.
"""

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.bigquery_client import is_bigquery_uri, scratch_keys
from embed_assets.corpus.hashing import content_hashes
from embed_assets.jobs.plan import PLAN_REJECTED, PLAN_REUSE, PLAN_SUBMIT, pairs_present
from embed_assets.jobs.record import Submission
from embed_assets.models.catalog import model_spec, vector_dimension
from embed_assets.predictions.lines import PredictionBatch, RequestSchema
from embed_assets.predictions.readers import read_prediction_object
from embed_assets.staging import Storage
from embed_assets.store.base import EmbeddingStore, Generations, embedding_rows
from embed_assets.store.bigquery import BigQueryEmbeddingStore
from embed_assets.store.bigquery_landing import land_prediction_table


class EmbeddingTarget(Protocol):
    """What reading predictions needs to know: whose table, and how hashes were made."""

    @property
    def pipeline(self) -> str: ...  # noqa: D102

    @property
    def model(self) -> str: ...  # noqa: D102

    @property
    def task_type(self) -> str | None: ...  # noqa: D102

    @property
    def output_dimensionality(self) -> int | None: ...  # noqa: D102


class SubmissionNotFinished(RuntimeError):
    """Some jobs of the submission are still running."""


def check_finished(submission: Submission, statuses: Sequence[JobStatus]) -> None:
    """Raises `SubmissionNotFinished`, naming the jobs, unless every job is terminal."""
    running = [s.describe() for s in statuses if not s.is_terminal]
    if running:
        raise SubmissionNotFinished(
            f"submission {submission.submission_id} has unfinished jobs: {'; '.join(running)}. "
            "The sensor materializes this asset once every job has finished."
        )


@dataclass
class LandingReport:
    """What landing a submission did, row by row accounted for."""

    submission_id: str
    pipeline: str = ""
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
    generations: Generations = field(default_factory=lambda: Generations(serving=None))
    switched: bool = False

    @property
    def coverage(self) -> float:
        """The fraction of accepted rows embedded (1.0 when there are none)."""
        accepted = self.corpus_rows - self.rejected_rows
        return self.embedded_ids / accepted if accepted else 1.0

    @property
    def failed_rows(self) -> int:
        """Corpus rows whose embedding failed in this submission."""
        return len(self.failures)

    @property
    def accounted(self) -> bool:
        """True when corpus rows = embedded + failed + rejected."""
        return self.corpus_rows == self.embedded_ids + self.failed_rows + self.rejected_rows


def _batch_hashes(batch: PredictionBatch, submission: EmbeddingTarget) -> list[str]:
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
    statuses: Sequence[JobStatus] | None = None,
) -> LandingReport:
    """Lands every finished job of a submission into the store.

    Args:
        submission: the record written by the batch-job asset.
        backend: where the jobs ran.
        store: the embedding table.
        log: where progress lines go.
        statuses: the jobs' current statuses, in order, if the caller has read them already.

    Raises:
        SubmissionNotFinished: a job is not in a terminal state yet.
    """
    if statuses is None:
        statuses = [backend.get(job.name) for job in submission.jobs]
    check_finished(submission, statuses)
    staging = backend.staging()
    with staging.open_read(submission.manifest_uri) as handle:
        manifest = pq.read_table(handle).to_pandas()
    report = LandingReport(
        submission_id=submission.submission_id,
        pipeline=submission.pipeline,
        corpus_rows=len(manifest),
    )
    report.job_states = {s.name: s.state.value for s in statuses}
    submitted = manifest[manifest["plan"] == PLAN_SUBMIT]
    files = PredictionFiles(submission=submission, store=store, submitted=submitted)
    landed, failed_reason = files.landed, files.failed_reason
    for job, status in zip(submission.jobs, statuses, strict=True):
        if not status.state.has_output:
            error = f": {status.error.message}" if status.error else ""
            reason = f"job {status.name} ended {status.state.value}{error}"
            log(reason)
            for content_hash in submitted.loc[submitted["shard"] == job.shard, "content_hash"]:
                failed_reason.setdefault(content_hash, reason)
        # a failed, cancelled or expired job may still have written rows: they are paid for
        for uri, (written, tokens) in files.land_all(staging, backend.output_files(status)):
            report.prediction_files += 1
            report.written_rows += written
            report.tokens += tokens
            log(f"landed {uri}: {report.written_rows} rows written so far")
    missing = "no prediction was returned for this row"
    if files.unreadable:  # the row's line may be one of these: say where to look
        shown = "; ".join(files.unreadable[:3])
        more = f" and {len(files.unreadable) - 3} more" if len(files.unreadable) > 3 else ""
        missing += f" (unreadable prediction lines: {shown}{more})"
        log(f"unreadable prediction lines, their rows fail: {shown}{more}")
    for content_hash in submitted["content_hash"].unique():
        if content_hash not in landed and content_hash not in failed_reason:
            failed_reason[content_hash] = missing
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
    store.record_consumed_jobs(submission.pipeline, [job.name for job in submission.jobs])
    stored = store.current_hashes(submission.pipeline)
    report.embedded_ids = int(pairs_present(accepted, stored).sum())
    report.rejected_rows = int((manifest["plan"] == PLAN_REJECTED).sum())
    return report


class PredictionFiles:
    """Joins prediction files to a submission's rows by content hash and upserts them.

    Attributes:
        landed: hashes whose vector is in the store now.
        failed_reason: hashes that failed, with the reason (a later success removes them).
    """

    def __init__(
        self, *, submission: EmbeddingTarget, store: EmbeddingStore, submitted: pd.DataFrame
    ) -> None:
        """Prepares the join.

        Args:
            submission: the submission the files belong to (or the settings they were made
                with).
            store: the embedding table.
            submitted: the manifest rows planned for submission (`id, content_hash`).
        """
        self.submission = submission
        self.store = store
        self.submitted = submitted[["id", "content_hash"]]
        # ids grouped by hash, laid out flat: the ids of hash k are ids[starts[k]:starts[k + 1]]
        codes, uniques = pd.factorize(submitted["content_hash"].to_numpy())
        order = np.argsort(codes, kind="stable")
        self.hash_index = pd.Index(uniques)
        self.ids = submitted["id"].to_numpy(dtype=object)[order]
        self.counts = np.bincount(codes, minlength=len(uniques))
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self.dimension = vector_dimension(submission.model, submission.output_dimensionality)
        self.landed: set[str] = set()
        self.unreadable: list[str] = []  # `<file> line N ...` of lines no row could be told from
        self.failed_reason: dict[str, str] = {}

    def land_all(
        self, staging: Storage, uris: Sequence[str]
    ) -> Iterator[tuple[str, tuple[int, int]]]:
        """Lands files one by one; yields each URI with (rows written, tokens).

        The next file is parsed on a second thread while this one is written to the store
        (both run mostly outside the GIL), so at most two files are in memory at once.
        """
        if not uris:
            return
        if isinstance(self.store, BigQueryEmbeddingStore) and all(map(is_bigquery_uri, uris)):
            pending = list(uris)
            columns = ["id", "content_hash"]
            with (
                self.store.client() as client,
                scratch_keys(client, self.store.dataset_id, self.submitted, columns) as keys,
            ):
                wanted = f"SELECT id, content_hash FROM {keys}"  # loaded once, for every table
                while pending and (landed := self.land_table(pending[0], wanted)) is not None:
                    yield pending.pop(0), landed
            uris = pending  # a table without a `key` column: read it here, as files are
            if not uris:
                return
        with (
            self.store.writer(self.submission.pipeline) as write,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prediction-reader") as pool,
        ):
            read = partial(read_prediction_object, staging, lenient=True)
            ahead = pool.submit(read, uris[0])
            for index, uri in enumerate(uris):
                batch = ahead.result()
                if index + 1 < len(uris):
                    ahead = pool.submit(read, uris[index + 1])
                self.unreadable += [f"{uri} {line}" for line in batch.unreadable]
                yield uri, self.land_batch(batch, write)

    def land_table(self, uri: str, wanted: str) -> tuple[int, int] | None:
        """Lands a BigQuery prediction table with SQL in BigQuery; returns (rows, tokens).

        Args:
            uri: the prediction table.
            wanted: a query giving `id, content_hash` of the submitted rows.

        Returns:
            None when the table cannot be joined in SQL (no `key` column).
        """
        assert isinstance(self.store, BigQueryEmbeddingStore)
        result = land_prediction_table(
            self.store,
            pipeline=self.submission.pipeline,
            predictions_uri=uri,
            wanted=wanted,
            model=self.submission.model,
            dimension=self.dimension,
        )
        if result is None:
            return None
        for content_hash, reason in result.outcomes:
            if reason:
                self.failed_reason[content_hash] = reason
            else:
                self.landed.add(content_hash)
        return result.written, result.tokens

    def land_batch(
        self, batch: PredictionBatch, write: Callable[[pa.Table], int]
    ) -> tuple[int, int]:
        """Upserts the good rows of one parsed file with `write`; returns (rows, tokens)."""
        submission, failed_reason = self.submission, self.failed_reason
        hashes = np.asarray(_batch_hashes(batch, submission), dtype=object)
        positions = self.hash_index.get_indexer(pd.Index(hashes))
        ok = batch.ok & (positions >= 0)
        if batch.vectors.shape[1] not in (0, self.dimension):
            for content_hash in hashes[positions >= 0]:
                failed_reason.setdefault(
                    content_hash,
                    f"vector has {batch.vectors.shape[1]} values, expected {self.dimension}",
                )
            return 0, 0
        finite = np.isfinite(batch.vectors).all(axis=1) if batch.vectors.size else ok
        # an all-zero vector has no direction: cosine similarity with it is NaN
        nonzero = (batch.vectors != 0).any(axis=1) if batch.vectors.size else ok
        for row in np.flatnonzero(~batch.ok & (positions >= 0)):
            failed_reason[hashes[row]] = batch.statuses[row]
        for row in np.flatnonzero(ok & ~finite):
            failed_reason[hashes[row]] = "vector has non-finite values"
        for row in np.flatnonzero(ok & finite & ~nonzero):
            failed_reason[hashes[row]] = "vector is all zeros"
        good = np.flatnonzero(ok & finite & nonzero)
        if good.size == 0:
            return 0, 0
        wanted = positions[good]
        repeats = self.counts[wanted]
        # the flat positions of every id of every wanted hash, without a Python loop
        first = np.repeat(self.starts[wanted], repeats)
        within = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        rows = embedding_rows(
            ids=self.ids[first + within],
            content_hashes=np.repeat(hashes[good], repeats),
            vectors=np.repeat(batch.vectors[good], repeats, axis=0),
            token_counts=np.repeat(batch.token_counts[good], repeats),
            model=submission.model,
        )
        self.landed.update(hashes[good])
        written = write(rows)
        return written, int(batch.token_counts[good].sum())


def land_finished_jobs(
    *,
    jobs: Sequence[JobStatus],
    backend: BatchBackend,
    store: EmbeddingStore,
    target: EmbeddingTarget,
    submitted: pd.DataFrame,
    log: Callable[[str], None],
) -> int:
    """Lands what finished jobs of earlier submissions wrote, for the rows that need it now.

    Whatever state they ended in, the rows they wrote are paid for. The jobs are recorded as
    consumed, so no later refresh reads them again.

    Args:
        jobs: terminal jobs of earlier, unlanded submissions.
        backend: where they ran.
        store: the embedding table.
        target: the pipeline's settings (the hashes are recomputed with them).
        submitted: `id, content_hash` of the rows that need embedding now.
        log: where one line per job goes.

    Returns:
        Rows written.
    """
    files = PredictionFiles(submission=target, store=store, submitted=submitted)
    staging = backend.staging()
    written = 0
    for job in jobs:
        before = written
        for _, (rows, _tokens) in files.land_all(staging, backend.output_files(job)):
            written += rows
        log(f"landed {written - before} rows that {job.name} ({job.state.value}) already paid for")
    store.record_consumed_jobs(target.pipeline, [job.name for job in jobs])
    return written
