"""Landing a finished submission: each job's output into the table, then deletes and failures.

One orchestration for every placement of rows (`jobs.rows`): the rows land each job's files
or tables and settle the table; this module decides what a job that ended without output
means for its rows, counts everything, and records the failed rows and the consumed jobs.
Rows that failed are recorded; the next refresh submits them again because the store still
lacks their hash. Once a job's output is landed, its request and prediction files go (each
submission's manifest stays; `keep_staging=True` keeps everything).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.errors import SubmissionNotFinished
from embed_assets.human import duration, plural, progress
from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import LandingRows
from embed_assets.store.base import EmbeddingStore, Generations

PROGRESS_EVERY_SECONDS = 5.0


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
    duplicate_jobs: int = 0  # second jobs of a shard (lost create answers): cancelled, not landed
    shortened_vectors: int = 0  # longer than asked for: cut to the dimension and renormalized
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


def land_submission(
    *,
    submission: Submission,
    rows: LandingRows,
    store: EmbeddingStore,
    statuses: Sequence[JobStatus],
    log: Callable[[str], None],
) -> LandingReport:
    """Lands every finished job of a submission into the store.

    Args:
        submission: the record written by the batch-job asset.
        rows: the submission's rows, where they live.
        store: the embedding table.
        statuses: the jobs' current statuses, in the order of `submission.jobs`.
        log: where progress lines go.

    Raises:
        SubmissionNotFinished: a job is not in a terminal state yet.
    """
    check_finished(submission, statuses)
    report = LandingReport(submission_id=submission.submission_id, pipeline=submission.pipeline)
    report.job_states = {s.name: s.state.value for s in statuses}
    report.reused_rows = rows.reuse_stored()  # before new texts replace the rows it reads
    started = said = time.monotonic()
    expected = sum(job.prompts for job in submission.jobs)
    for status in statuses:
        job_failed = None
        if not status.state.has_output:
            error = f": {status.error.message}" if status.error else ""
            job_failed = f"job {status.name} ended {status.state.value}{error}"
            log(job_failed)
        # a failed, cancelled or expired job may still have written rows: they are paid for
        for _uri, written, tokens in rows.land_output(status, job_failed=job_failed):
            report.prediction_files += 1
            report.written_rows += written
            report.tokens += tokens
            now = time.monotonic()
            if now - said >= PROGRESS_EVERY_SECONDS:  # a long landing says how far it is
                written = min(report.written_rows, expected)
                log(f"landing: {progress(written, expected, elapsed=now - started)} written")
                said = now
    log(
        f"landed {plural(report.prediction_files, 'prediction file')} in "
        f"{duration(time.monotonic() - started)}: {plural(report.written_rows, 'row')} written"
    )
    settled = rows.settle(log=log)
    report.corpus_rows = settled.corpus_rows
    report.rejected_rows = settled.rejected_rows
    report.deleted_rows = settled.deleted_rows
    report.embedded_ids = settled.embedded_ids
    report.failures = settled.failures
    report.shortened_vectors = settled.shortened_vectors
    if settled.shortened_vectors:
        log(
            f"{settled.shortened_vectors} vectors came back longer than the "
            f"{submission.output_dimensionality or 'requested'} values asked for: cut to it and "
            "L2-renormalized"
        )
    store.replace_failures(submission.pipeline, report.failures)
    store.record_consumed_jobs(submission.pipeline, [job.name for job in submission.jobs])
    return report


def switch_when_covered(
    store: EmbeddingStore,
    report: LandingReport,
    *,
    min_coverage: float,
    log: Callable[[str], None],
) -> None:
    """Makes a generation being built the live one once it covers `min_coverage`; says which."""
    generations = store.generations(report.pipeline)
    building = generations.building
    if building is None:
        report.generations = generations
        return
    old = generations.serving.describe() if generations.serving else "no"
    if report.coverage >= min_coverage:
        store.switch_generation(report.pipeline)
        report.generations = store.generations(report.pipeline)
        report.switched = True
        log(
            f"the new generation ({building.describe()}) covers {report.coverage:.1%} of the "
            f"accepted rows: it replaced the old one ({old}) and serves now"
        )
        return
    report.generations = generations
    log(
        f"the new generation ({building.describe()}) covers {report.coverage:.1%} of the "
        f"accepted rows, below min_coverage {min_coverage:.1%}: the table keeps serving the old "
        f"one ({old}); the next refresh retries the failed rows"
    )


def discard_staged_files(
    *,
    backend: BatchBackend,
    jobs: Sequence[JobStatus],
    folders: Sequence[str] = (),
    log: Callable[[str], None],
) -> int:
    """Deletes the request files and output folders of consumed jobs; returns files deleted.

    A file that cannot be deleted is logged and left: cleaning up never fails a refresh.

    Args:
        backend: where the jobs ran (its staging holds their files).
        jobs: jobs whose output has been landed (or was of no use).
        folders: more staging folders to delete (a submission's output folder).
        log: where a line about what was deleted (or not) goes.
    """
    staging = backend.staging()
    targets = [job.input_uri for job in jobs if job.input_uri]
    targets += [job.output_directory for job in jobs if job.output_directory]
    targets += list(folders)
    deleted = 0
    for uri in dict.fromkeys(targets):  # each once, in order
        try:
            deleted += staging.delete(uri)
        except OSError as error:
            log(f"could not delete staged {uri}: {error}")
    if deleted:
        log(f"deleted {deleted} staged request and prediction files")
    return deleted
