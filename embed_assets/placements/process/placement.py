"""Rows on this machine: the prepared corpus, the stored keys and the manifest Parquet files.

The `RowPlacement` for every pipeline whose corpus, staging and table are not all in one
warehouse. The diff and the manifest are DuckDB statements over the files (`placements.process.plan`), in
bounded memory; only the texts to embed come into the process. Request shards are JSONL
files (or prompts tables, on a table staging); prediction files are read one at a time
(`placements.process.prediction_files`).
"""

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import duckdb
import pandas as pd
import pyarrow as pa

from embed_assets.backends.base import BatchBackend, JobStatus
from embed_assets.corpus.hashing import arrow_strings, content_hashes
from embed_assets.corpus.prepared import PreparedCorpus, write_prepared
from embed_assets.jobs.record import Submission
from embed_assets.jobs.rows import (
    PLAN_REJECTED,
    PLAN_REUSE,
    PLAN_SUBMIT,
    PLAN_UNCHANGED,
    AdoptableJob,
    Log,
    PlanCounts,
    Shard,
    ShardPlan,
    TableAfterLanding,
)
from embed_assets.jobs.settings import EmbeddingTarget, SubmissionSettings
from embed_assets.models.catalog import model_spec
from embed_assets.models.tokens import estimate_prompt_tokens
from embed_assets.placements.process.manifest import (
    count_stored_pairs,
    manifest_rows,
    write_kept_pairs,
)
from embed_assets.placements.process.plan import (
    Plan,
    check_rows_kind,
    plan_refresh,
    render_prompts_table,
    render_shard,
    shard_prompts,
    write_manifest,
)
from embed_assets.placements.process.prediction_files import PredictionFiles
from embed_assets.predictions.lines import (
    Prompt,
    RequestLine,
    RequestSchema,
    parse_request_line,
)
from embed_assets.staging.base import Storage, TableStorage
from embed_assets.store.base import EmbeddingStore, delete_rows_not_in, write_stored_keys

MISSING = "no prediction was returned for this row"
COPY_BUFFER_BYTES = 8 * 2**20  # the manifest is copied to this machine 8 MiB at a time


class InProcessPlacement:
    """Rows pass through this process (the default `RowPlacement`)."""

    warehouse = False

    def planning(
        self,
        *,
        corpus: PreparedCorpus | pd.DataFrame,
        backend: BatchBackend,
        store: EmbeddingStore,
        settings: SubmissionSettings,
    ) -> "InProcessPlanning":
        """The rows of a prepared corpus (a `PreparedCorpus`, or a frame of its rows)."""
        return InProcessPlanning(corpus, backend=backend, store=store, settings=settings)

    def landing(
        self, *, submission: Submission, backend: BatchBackend, store: EmbeddingStore
    ) -> "InProcessLanding":
        """The rows of a submission, read from its manifest."""
        return InProcessLanding(submission, backend=backend, store=store)


def prompts_digest(hashes: pa.Array | pa.ChunkedArray) -> int:
    """XOR of the hashes' first 60 bits: order-free, and the same as the warehouse's SQL."""
    connection = duckdb.connect()
    try:
        connection.register("hashes", pa.table({"h": hashes}))
        ((digest,),) = connection.sql(
            "SELECT COALESCE(bit_xor(('0x' || substr(h, 1, 15))::BIGINT), 0) FROM hashes"
        ).fetchall()
    finally:
        connection.close()
    return int(digest)


def request_hashes(
    staging: Storage, job: JobStatus, *, model: str, output_dimensionality: int | None
) -> tuple[list[str], int]:
    """The content hashes of a job's request lines (as landing computes them), and characters."""
    parsed: list[RequestLine]
    if staging.holds_tables:  # a prompts table
        table = cast(TableStorage, staging).read_table(job.input_uri).to_pydict()
        parsed = [
            RequestLine(
                Prompt(key=str(key or ""), content=content or "", title=title), task, None, None
            )
            for key, content, title, task in zip(
                table["key"], table["content"], table["title"], table["task_type"], strict=True
            )
        ]
    else:
        with staging.open_read(job.input_uri) as stream:
            parsed = [parse_request_line(line) for line in stream if line.strip()]
    characters = sum(len(line.prompt.content) for line in parsed)
    if model_spec(model).schema is RequestSchema.GEMINI:
        return [line.prompt.key for line in parsed], characters
    hashes: list[str] = []
    for task_type in {line.task_type for line in parsed}:  # one task type per job, in practice
        rows = [line.prompt for line in parsed if line.task_type == task_type]
        hashes += content_hashes(
            [p.content for p in rows],
            [p.title for p in rows],
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
        )
    return hashes, characters


class InProcessPlanning:
    """A prepared corpus planned against the table in this process (in DuckDB, over files)."""

    def __init__(
        self,
        corpus: PreparedCorpus | pd.DataFrame,
        *,
        backend: BatchBackend,
        store: EmbeddingStore,
        settings: SubmissionSettings,
    ) -> None:
        # the plan's files (the stored keys, the manifest, DuckDB's spill) live as long as this
        self._folder = tempfile.TemporaryDirectory(prefix="embed-assets-plan-")
        self.folder = Path(self._folder.name)
        if isinstance(corpus, pd.DataFrame):
            corpus = write_prepared(corpus, self.folder / "corpus.parquet")
        self.corpus, self.backend, self.store, self.settings = corpus, backend, store, settings
        self.staging = backend.staging()
        self.request_extension = "" if self.staging.holds_tables else ".jsonl"
        self.manifest_name = "manifest.parquet"
        self.plan: Plan | None = None
        self._claimed: set[str] = set()
        self._held: dict[str, frozenset[str]] = {}  # job name -> needed hashes it holds
        self._prompts = pd.DataFrame(columns=["content_hash", "content", "title"])
        self._ranges: dict[int, tuple[int, int]] = {}

    def _planned(self) -> Plan:
        if self.plan is None:
            keys = self.folder / "stored.parquet"
            write_stored_keys(self.store, self.settings.pipeline, keys)
            check_rows_kind(self.corpus, keys, pipeline=self.settings.pipeline)
            self.plan = plan_refresh(self.corpus, keys, folder=self.folder)
        return self.plan

    def diff(self) -> PlanCounts:
        """Diffs in DuckDB, over the prepared corpus and the stored keys (`placements.process.plan`)."""
        self.plan = None
        plan = self._planned()
        return PlanCounts(
            corpus_rows=self.corpus.rows,
            documents=self.corpus.documents,
            rejected=plan.counts[PLAN_REJECTED],
            unchanged=plan.counts[PLAN_UNCHANGED],
            reused=plan.counts[PLAN_REUSE],
            stored=plan.stored_rows,
            deleted=plan.deleted_rows,
            prompts=len(plan.prompts),
            prompts_digest=prompts_digest(arrow_strings(plan.prompts["content_hash"])),
            rejected_by_reason=dict(self.corpus.rejected_by_reason),
        )

    def held_by(self, job: JobStatus, *, log: Log) -> AdoptableJob | None:
        """Reads the job's request lines (or prompts table) and hashes them as landing does."""
        try:
            hashes, characters = request_hashes(
                self.staging,
                job,
                model=self.settings.model,
                output_dimensionality=self.settings.output_dimensionality,
            )
        except (OSError, ValueError, KeyError) as error:  # request file gone or unreadable
            log(f"cannot read the requests of {job.name} ({error}); not adopted")
            return None
        needed = set(self._planned().prompts["content_hash"])
        holds = (set(hashes) & needed) - self._claimed
        if not holds:
            return None
        if not job.is_terminal:
            self._claimed |= holds
            self._held[job.name] = frozenset(holds)
        return AdoptableJob(job=job, texts=len(holds), prompts=len(hashes), characters=characters)

    def land_paid(self, jobs: Sequence[JobStatus], *, log: Log) -> int:
        """Lands the jobs' prediction files for the rows planned for submission."""
        files = PredictionFiles(
            submission=self.settings,
            store=self.store,
            submitted=self._planned().rows(PLAN_SUBMIT),
        )
        written = 0
        for job in jobs:
            before = written
            for _, (rows, _tokens) in files.land_all(self.staging, self.backend.output_files(job)):
                written += rows
            log(
                f"landed {written - before} rows that {job.name} ({job.state.value}) already "
                "paid for"
            )
        return written

    def deal(
        self, *, submission: Submission, adopted: Sequence[AdoptableJob], limit: int
    ) -> ShardPlan:
        """Writes the manifest (Parquet) with each submitted row's shard."""
        plan = self._planned()
        in_flight = set().union(*(self._held[held.job.name] for held in adopted))
        prompts = plan.prompts[~plan.prompts["content_hash"].isin(in_flight)]
        self._prompts = prompts.reset_index(drop=True)
        first = len(adopted)
        ranges = shard_prompts(self._prompts, model_spec(submission.model), limit)
        self._ranges = {first + offset: bounds for offset, bounds in enumerate(ranges)}
        shard_of_hash: dict[str, int] = {}
        for shard, held in enumerate(adopted):
            for content_hash in self._held[held.job.name]:
                shard_of_hash[content_hash] = shard
        for shard, (start, stop) in self._ranges.items():
            for content_hash in self._prompts["content_hash"].iloc[start:stop]:
                shard_of_hash[content_hash] = shard
        shards = pa.table(
            {
                "content_hash": pa.array(list(shard_of_hash), pa.string()),
                "shard": pa.array(list(shard_of_hash.values()), pa.int64()),
            }
        )
        manifest = self.folder / "manifest.parquet"
        write_manifest(plan, shards, manifest)
        self.staging.upload_file(manifest, submission.manifest_uri)
        return ShardPlan(
            adopted=[
                Shard(shard, held.prompts, held.characters) for shard, held in enumerate(adopted)
            ],
            fresh=[
                self._shard(shard, start, stop) for shard, (start, stop) in self._ranges.items()
            ],
            adopted_texts=len(in_flight),
        )

    def _shard(self, shard: int, start: int, stop: int) -> Shard:
        """One new shard's prompts, characters and (for a model billed by tokens) tokens."""
        rows = self._prompts.iloc[start:stop]
        characters = int(rows["content"].str.len().sum())
        if not model_spec(self.settings.model).bills_tokens:
            return Shard(shard, stop - start, characters)
        tokens = estimate_prompt_tokens(
            arrow_strings(rows["content"]),
            arrow_strings(rows["title"]),
            model=self.settings.model,
        )
        return Shard(shard, stop - start, characters, tokens)

    def stage(self, *, submission: Submission, shard: int, input_uri: str) -> None:
        """Writes the shard's JSONL request lines, or its prompts table on a table staging."""
        start, stop = self._ranges[shard]
        rows = self._prompts.iloc[start:stop]
        if self.staging.holds_tables:
            tables = cast(TableStorage, self.staging)
            tables.write_table(input_uri, render_prompts_table(rows, submission.task_type))
            return
        request = render_shard(
            rows,
            model_spec(submission.model),
            submission.task_type,
            submission.output_dimensionality,
            auto_truncate=self.settings.auto_truncate,
        )
        self.staging.write_bytes(input_uri, request)


class InProcessLanding:
    """A submission's manifest on this machine, joined to its prediction files.

    Only the rows submitted or reused come into the process; the rest of the manifest is
    read by DuckDB where landing keeps, deletes and counts rows (`placements.process.manifest`).
    """

    def __init__(
        self, submission: Submission, *, backend: BatchBackend, store: EmbeddingStore
    ) -> None:
        self.submission, self.backend, self.store = submission, backend, store
        self.staging = backend.staging()
        # the manifest's copy, the kept pairs, the stored keys and DuckDB's spill live as
        # long as this object
        self._folder = tempfile.TemporaryDirectory(prefix="embed-assets-landing-")
        self.folder = Path(self._folder.name)
        self.manifest = self.folder / "manifest.parquet"
        with (
            self.staging.open_read(submission.manifest_uri) as handle,
            open(self.manifest, "wb") as local,
        ):
            shutil.copyfileobj(handle, local, COPY_BUFFER_BYTES)
        self.submitted = manifest_rows(self.manifest, PLAN_SUBMIT, folder=self.folder)
        target: EmbeddingTarget = submission
        self.files = PredictionFiles(submission=target, store=store, submitted=self.submitted)

    def reuse_stored(self) -> int:
        """Copies the stored vector of each reused row's text to its id."""
        reuse = manifest_rows(self.manifest, PLAN_REUSE, folder=self.folder)
        return self.store.copy_by_hash(self.submission.pipeline, reuse, self.submission.model)

    def land_output(
        self, job: JobStatus, *, job_failed: str | None
    ) -> Iterator[tuple[str, int, int]]:
        """Lands the job's prediction files one by one (the next is read while one is written)."""
        if job_failed is not None:
            shard = self._shard_of(job)
            hashes = self.submitted.loc[self.submitted["shard"] == shard, "content_hash"]
            for content_hash in hashes:
                self.files.failed_reason.setdefault(content_hash, job_failed)
        for uri, (written, tokens) in self.files.land_all(
            self.staging, self.backend.output_files(job)
        ):
            yield uri, written, tokens

    def _shard_of(self, job: JobStatus) -> int:
        return next(j.shard for j in self.submission.jobs if j.name == job.name)

    def settle(self, *, log: Log) -> TableAfterLanding:
        """Deletes what left the corpus, and lists the failed rows."""
        files, submitted = self.files, self.submitted
        landed, failed_reason = files.landed, files.failed_reason
        missing = MISSING
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
        pipeline = self.submission.pipeline
        failed = submitted[submitted["content_hash"].isin(failed_reason.keys())]
        failures = pd.DataFrame(
            {
                "id": failed["id"].to_numpy(),
                "content_hash": failed["content_hash"].to_numpy(),
                "reason": failed["content_hash"].map(failed_reason).to_numpy(),
            }
        )
        kept, stored = self.folder / "kept.parquet", self.folder / "stored.parquet"
        counts = write_kept_pairs(
            self.manifest, failed_hashes=list(failed_reason), path=kept, folder=self.folder
        )
        deleted = delete_rows_not_in(self.store, pipeline, kept)
        write_stored_keys(self.store, pipeline, stored)
        return TableAfterLanding(
            corpus_rows=counts.corpus_rows,
            rejected_rows=counts.rejected_rows,
            deleted_rows=deleted,
            embedded_ids=count_stored_pairs(kept, stored, folder=self.folder),
            failures=failures,
            shortened_vectors=files.shortened,
        )
