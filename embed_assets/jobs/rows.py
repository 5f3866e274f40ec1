"""Where a submission's rows live: the one interface every lifecycle step works through.

The lifecycle (`jobs.handler`) plans, adopts, submits and lands once. What it does to rows —
diff the corpus against the table, tell which needed texts an earlier job holds, deal the
texts into shards, write a shard's request, land a job's output, settle deletes and
failures — goes through a `RowPlacement`, chosen by each run from the pipeline's
`placement` and the backend and store it has bound: on this machine as files DuckDB reads
(`placements.process`), or in the warehouse as SQL (`embed_assets.placements.bigquery`). Neither the
handler nor the steps know which. The submission record a plan starts from is made here too.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import pandas as pd

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.errors import ConfigError
from embed_assets.jobs.record import Submission
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.store.base import EmbeddingStore

Log = Callable[[str], None]
# the corpus a placement plans from: a prepared file here, a staged table in the warehouse
CorpusT = TypeVar("CorpusT", contravariant=True)

# what a refresh does with each corpus row, in either placement's diff
PLAN_SUBMIT = "submit"
PLAN_UNCHANGED = "unchanged"
PLAN_REUSE = "reuse"
PLAN_REJECTED = "rejected"
PLANS = [PLAN_REJECTED, PLAN_UNCHANGED, PLAN_REUSE, PLAN_SUBMIT]


def refuse_kind_switch(*, held_chunks: bool, makes_chunks: bool, pipeline: str) -> None:
    """Refuses a refresh that would write chunks where the table holds whole documents.

    Raises:
        ConfigError: `held_chunks` and `makes_chunks` differ.
    """
    if held_chunks != makes_chunks:
        held, made = ("chunks", "whole documents") if held_chunks else ("whole documents", "chunks")
        raise ConfigError(
            f"the table of pipeline {pipeline} holds {held}, but the pipeline now embeds {made}: "
            "every id would change, so this needs a new table; give the pipeline a new name "
            "(the old table stays as it is), or drop its table first"
        )


def shard_ranges(count: int, max_per_shard: int) -> Iterator[tuple[int, int]]:
    """Splits `count` rows into consecutive (start, stop) ranges of at most `max_per_shard`."""
    if max_per_shard < 1:
        raise ConfigError(f"max_prompts_per_job must be at least 1, got {max_per_shard}")
    shards = -(-count // max_per_shard)
    size = -(-count // shards) if shards else 0  # balanced shards
    for start in range(0, count, size or 1):
        yield start, min(start + size, count)


@dataclass(frozen=True, kw_only=True)
class PlanCounts:
    """What diffing the corpus against the table found.

    Attributes:
        corpus_rows: rows the corpus source had.
        rejected: rows rejected by validation.
        unchanged: rows the table holds with the same text.
        reused: rows whose vector the table holds under another id.
        stored: rows the table holds.
        deleted: stored rows whose id is not an accepted corpus row.
        prompts: distinct texts the table lacks.
        prompts_digest: an order-free digest of those texts' hashes (for the submission id).
        rejected_by_reason: rejected rows counted per reason.
        documents: source rows (with chunking, `corpus_rows` counts chunks and rejected
            documents; 0: not counted apart, as many as `corpus_rows`).
    """

    corpus_rows: int
    rejected: int
    unchanged: int
    reused: int
    stored: int
    deleted: int
    prompts: int
    prompts_digest: int
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)
    documents: int = 0

    @property
    def stale(self) -> int:
        """Stored rows that will be deleted or replaced."""
        return self.stored - self.unchanged


@dataclass(frozen=True)
class AdoptableJob:
    """An earlier job that holds texts this refresh needs (and no other adopted job holds).

    Attributes:
        job: the job as the backend reported it.
        texts: needed texts its request holds.
        prompts: prompts in its request.
        characters: characters in its request.
    """

    job: JobStatus
    texts: int
    prompts: int
    characters: int


@dataclass(frozen=True)
class Shard:
    """One shard of a submission: one job.

    Attributes:
        shard: its number; adopted jobs come first.
        prompts: distinct texts in it.
        characters: characters of those texts.
        tokens: their tokens, estimated never to fall short (0: not counted; the model
            bills characters, or the rows are in the warehouse).
    """

    shard: int
    prompts: int
    characters: int
    tokens: int = 0


@dataclass(frozen=True)
class ShardPlan:
    """The shards a submission's manifest deals its texts into.

    Attributes:
        adopted: one per adopted job (shards 0..a-1), in adoption order.
        fresh: the new shards, whose jobs are created (or re-attached to).
        adopted_texts: distinct needed texts the adopted jobs hold, each counted once.
    """

    adopted: list[Shard]
    fresh: list[Shard]
    adopted_texts: int

    @property
    def prompts(self) -> int:
        """Texts this submission pays for (the adopted ones were paid for earlier)."""
        return sum(shard.prompts for shard in self.fresh)

    @property
    def characters(self) -> int:
        """Characters this submission pays for."""
        return sum(shard.characters for shard in self.fresh)

    @property
    def tokens(self) -> int | None:
        """Tokens this submission pays for, estimated never to fall short (None: not counted)."""
        counted = [shard.tokens for shard in self.fresh if shard.tokens]
        return sum(counted) if len(counted) == len(self.fresh) and counted else None


@dataclass(frozen=True)
class TableAfterLanding:
    """The table after a landing: what was deleted and embedded, and what failed.

    Attributes:
        corpus_rows: rows of the submission's corpus.
        rejected_rows: of those, rejected by validation.
        deleted_rows: rows removed (their id left the corpus, or their text changed).
        embedded_ids: accepted rows whose vector is in the table now.
        failures: `id, content_hash, reason` of the rows that failed.
        shortened_vectors: vectors that came back longer than asked for, cut and renormalized.
    """

    corpus_rows: int
    rejected_rows: int
    deleted_rows: int
    embedded_ids: int
    failures: pd.DataFrame
    shortened_vectors: int = 0


class PlanningRows(Protocol):
    """One refresh's corpus rows while it is planned and submitted."""

    request_extension: str  # of a shard's request name: `.jsonl`, or none for a table
    manifest_name: str  # of the manifest below the submission: a Parquet file, or a table

    def diff(self) -> PlanCounts:
        """Diffs the corpus against the table (again, after earlier jobs landed)."""
        ...

    def held_by(self, job: JobStatus, *, log: Log) -> AdoptableJob | None:
        """The needed texts an earlier job's request holds (None: nothing, or unreadable).

        Texts an unfinished job is found to hold are claimed: later jobs are not credited
        with them again.
        """
        ...

    def land_paid(self, jobs: Sequence[JobStatus], *, log: Log) -> int:
        """Lands what finished earlier jobs wrote for the rows that need it; returns rows."""
        ...

    def deal(
        self, *, submission: Submission, adopted: Sequence[AdoptableJob], limit: int
    ) -> ShardPlan:
        """Writes the submission's manifest, each submitted row with its shard.

        Adopted jobs keep the texts they hold (shards 0..a-1); the rest is dealt into new
        shards of at most `limit` texts (and within the model's limits).
        """
        ...

    def stage(self, *, submission: Submission, shard: int, input_uri: str) -> None:
        """Writes one new shard's request (JSONL lines, or a prompts table) to `input_uri`."""
        ...


class LandingRows(Protocol):
    """One submission's rows while its output is landed."""

    def reuse_stored(self) -> int:
        """Gives the rows planned for reuse the vector stored for their text; returns how many.

        Called before any output lands: a new text landing under an id replaces that id's
        row, which may be the only one that holds a vector another row reuses.
        """
        ...

    def land_output(
        self, job: JobStatus, *, job_failed: str | None
    ) -> Iterator[tuple[str, int, int]]:
        """Lands every prediction file or table a job wrote; yields (URI, rows, tokens) each.

        Args:
            job: the finished job.
            job_failed: why the job ended without output, if it did: the reason its rows
                fail unless a row says otherwise.
        """
        ...

    def settle(self, *, log: Log) -> TableAfterLanding:
        """Deletes rows that left, and lists the rows that failed."""
        ...


class RowPlacement(Protocol[CorpusT]):
    """Where a run's rows live, planned from a corpus of type `CorpusT`.

    Declared by the pipeline's `placement`, chosen by each run from the backend and store it
    has bound (`pipeline.placement.choose_placement`): `placements.process.placement.InProcessPlacement`
    plans from a `PreparedCorpus` file, `placements.bigquery.placement.WarehousePlacement` from a
    `WarehouseCorpus` table.
    """

    warehouse: bool  # recorded on each submission, so it is landed where it was planned

    def planning(
        self,
        *,
        corpus: CorpusT,
        backend: BatchBackend,
        store: EmbeddingStore,
        settings: SubmissionSettings,
    ) -> PlanningRows:
        """The rows of `corpus`."""
        ...

    def landing(
        self, *, submission: Submission, backend: BatchBackend, store: EmbeddingStore
    ) -> LandingRows:
        """The rows of a submission being landed."""
        ...


def planned_submission(
    submission_id: str,
    *,
    settings: SubmissionSettings,
    counts: PlanCounts,
    manifest_uri: str,
    output_uri: str,
    landed_rows: int,
    warehouse: bool,
) -> Submission:
    """The submission record of a plan, before its texts are dealt into shards.

    Args:
        submission_id: from `submission_id_for`.
        settings: what the pipeline asks of every submission.
        counts: what the diff found.
        manifest_uri: where the manifest goes.
        output_uri: the folder (or table prefix) of the jobs' output.
        landed_rows: rows landed from earlier paid jobs while planning.
        warehouse: the rows live in the warehouse (not in this process).
    """
    return Submission(
        submission_id=submission_id,
        pipeline=settings.pipeline,
        model=settings.model,
        task_type=settings.task_type,
        output_dimensionality=settings.output_dimensionality,
        manifest_uri=manifest_uri,
        output_uri=output_uri,
        jobs=(),
        corpus_rows=counts.corpus_rows,
        documents=counts.documents or counts.corpus_rows,
        accepted_rows=counts.corpus_rows - counts.rejected,
        rejected_rows=counts.rejected,
        prompts=0,
        characters=0,
        unchanged_rows=counts.unchanged,
        reused_rows=counts.reused,
        stale_rows=counts.stale,
        rejected_by_reason=dict(counts.rejected_by_reason),
        rows_landed_while_planning=landed_rows,
        warehouse=warehouse,
        chunked=settings.chunked,
    )
