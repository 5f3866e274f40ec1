"""Running a pipeline headless, as the daemon would: materialize, tick the sensor, land.

`embed-assets run` uses this: it materializes the corpus and the batch job into a persistent
Dagster instance, evaluates the real sensor until it requests a run, and executes that run
on the same instance, so `dagster dev` later shows the whole history.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from embed_assets.backends.base import BatchBackend
from embed_assets.cli.interrupts import keep_interrupts
from embed_assets.errors import PipelineRunError
from embed_assets.jobs.guard import SpendEstimate
from embed_assets.jobs.handler import SubmissionHandler
from embed_assets.jobs.record import Submission
from embed_assets.pipeline.automation import record_source_version
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.pipeline.cursor import SensorOutcome, read_cursor
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.history import latest_landing, latest_submission
from embed_assets.pipeline.lock import RefreshInProgress, lock_folder, refresh_lock
from embed_assets.pipeline.metadata import RUN_KEY_TAG, SENSOR_NAME_TAG
from embed_assets.store.base import EmbeddingStore

PIPELINE_TAG = "embed_assets/pipeline"  # on every run the headless runner launches
PROGRESS_EVERY_SECONDS = 10.0  # a line at least this often while jobs run


@dataclass
class RunSummary:
    """What one headless run did."""

    pipeline: str
    model: str
    rows_read: int = 0  # corpus rows: chunk rows (and rejected documents) when chunking
    documents: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    prompts: int = 0
    characters: int = 0
    jobs: int = 0
    job_states: dict[str, str] = field(default_factory=dict)
    submission_id: str = ""
    embedded: int = 0
    written: int = 0
    reused: int = 0
    deleted: int = 0
    failed: int = 0
    failed_examples: str = ""
    table_rows: int = 0
    serving_model: str | None = None
    building_model: str | None = None
    tokens: int = 0
    shortened_vectors: int = 0
    duplicate_jobs: int = 0
    truncated: int = 0  # rows in the table whose text the model cut to its input limit
    truncated_examples: list[str] = field(default_factory=list)
    outcome: str = ""
    wall_seconds: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # checks that failed as warnings

    def to_json(self) -> dict[str, Any]:
        """Returns the summary as JSON-able data."""
        return asdict(self)


def _resource(defs: dg.Definitions, key: str) -> Any:
    resources = defs.resources or {}
    if key not in resources:
        raise PipelineRunError(f"the definitions bind no resource {key!r}")
    return resources[key]


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """One line: a failed blocking check's sentence, else the first failed step's cause."""
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity is dg.AssetCheckSeverity.ERROR:
            why = evaluation.description or f"check {evaluation.check_name} failed"
            return f"{evaluation.asset_key.to_user_string()}: {why}"
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return f"{event.step_key}: {user.description}"
            while error is not None and error.cause is not None:  # the wrapped, real cause
                error = error.cause
            if error is not None:
                lines = error.message.strip().splitlines()
                return f"{event.step_key}: {lines[0] if lines else error.cls_name}"
    return "the run failed"


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey],
    tags: dict[str, str] | None = None,
    log_level: str = "WARNING",
    ops: dict[str, Any] | None = None,
    pipeline: str | None = None,
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    with keep_interrupts():  # Dagster drops a Ctrl-C that comes between its checkpoints
        result = job.execute_in_process(
            instance=instance,
            asset_selection=selection,
            tags={**(tags or {}), **({PIPELINE_TAG: pipeline} if pipeline else {})},
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": log_level}}},
                **({"ops": ops} if ops else {}),
            },
        )
    if not result.success:
        raise PipelineRunError(_failure_message(result))
    return result


def _fail_abandoned_runs(
    instance: dg.DagsterInstance, pipeline: str, progress: Callable[[str], None]
) -> None:
    """Marks failed the runs a killed refresh left STARTED (we hold the lock: none is live)."""
    left = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={PIPELINE_TAG: pipeline},
        )
    )
    for run in left:
        instance.report_run_failed(run)
        progress(
            f"run {run.run_id} was left {run.status.value} by a stopped refresh: marked failed"
        )


def run_pipeline(
    *,
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 6 * 3600,
    progress: Callable[[str], None] = lambda line: None,
    refresh: RefreshConfig | None = None,
    log_level: str = "WARNING",
) -> RunSummary:
    """Runs a pipeline once, end to end, and returns what it did.

    Args:
        defs: the pipeline's definitions, with its resources bound.
        pipeline: the pipeline.
        instance: the Dagster instance that keeps the history.
        poll_seconds: seconds between sensor ticks.
        timeout_seconds: how long to wait for the jobs.
        progress: where progress lines go.
        refresh: this run's overrides of the data-loss rules.
        log_level: what Dagster's console logger prints (CRITICAL: nothing but our lines).

    Raises:
        PipelineRunError: a step failed, every job failed, the jobs did not finish in time, or
            another process is refreshing the same pipeline.
    """
    try:
        with refresh_lock(lock_folder(instance.root_directory), pipeline.name):
            return _run_locked(
                defs=defs,
                pipeline=pipeline,
                instance=instance,
                poll_seconds=poll_seconds,
                timeout_seconds=timeout_seconds,
                progress=progress,
                refresh=refresh,
                log_level=log_level,
            )
    except RefreshInProgress as error:
        raise PipelineRunError(str(error)) from None


def _run_locked(
    *,
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    poll_seconds: float,
    timeout_seconds: float,
    progress: Callable[[str], None],
    refresh: RefreshConfig | None,
    log_level: str,
) -> RunSummary:
    started = time.monotonic()
    summary = RunSummary(pipeline=pipeline.name, model=pipeline.resolved_model)
    progress(
        f"materializing {pipeline.corpus_key.to_user_string()} and "
        f"{pipeline.batch_job_key.to_user_string()}"
    )
    config = {"config": (refresh or RefreshConfig()).model_dump()}
    ops = {
        key.to_python_identifier(): config for key in (pipeline.corpus_key, pipeline.batch_job_key)
    }
    _fail_abandoned_runs(instance, pipeline.name, progress)
    record_source_version(instance, pipeline)
    _execute(
        defs,
        instance,
        [pipeline.corpus_key, pipeline.batch_job_key],
        ops=ops,
        log_level=log_level,
        pipeline=pipeline.name,
    )
    submission = latest_submission(instance, pipeline.batch_job_key)
    if submission is None:  # the batch-job run succeeded, so it recorded one
        raise PipelineRunError(f"{pipeline.batch_job_key.to_user_string()} recorded no submission")
    estimate = SpendEstimate.of(
        submission.model,
        prompts=submission.prompts,
        characters=submission.characters,
        tokens=submission.tokens or None,
    )
    progress(
        f"submission {submission.submission_id}: {len(submission.jobs)} jobs, {estimate.describe()}"
    )
    cursor, run_request, last_message = _tick_until_settled(
        defs=defs,
        pipeline=pipeline,
        instance=instance,
        started=started,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        progress=progress,
        log_level=log_level,
    )
    if run_request is not None:
        _land(
            defs=defs,
            pipeline=pipeline,
            instance=instance,
            run_request=run_request,
            summary=summary,
            progress=progress,
            log_level=log_level,
        )
    else:
        summary.outcome = last_message or "nothing to land"
    _fill(summary, instance, pipeline, landed=run_request is not None)
    store: EmbeddingStore = _resource(defs, pipeline.names.store_key)
    stats = store.stats(pipeline.name, dimension=pipeline.dimension)
    summary.table_rows = stats.rows
    summary.truncated, summary.truncated_examples = stats.truncated, list(stats.truncated_examples)
    summary.wall_seconds = round(time.monotonic() - started, 2)
    if read_cursor(cursor).outcome is SensorOutcome.FAILED:
        backend: BatchBackend = _resource(defs, pipeline.names.backend_key)
        raise PipelineRunError(_failed_jobs(summary, backend, submission))
    return summary


def _land(
    *,
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    run_request: dg.RunRequest,
    summary: RunSummary,
    progress: Callable[[str], None],
    log_level: str,
) -> None:
    """Runs what the sensor asked for: the embeddings, their checks, everything downstream."""
    selection = sorted(
        dg.AssetSelection.assets(pipeline.embeddings_key)
        .downstream()
        .resolve(defs.resolve_asset_graph()),
        key=lambda k: k.to_user_string(),
    )
    progress(
        f"sensor requested run {run_request.run_key}: "
        f"{', '.join(k.to_user_string() for k in selection)}"
    )
    tags = {**run_request.tags, SENSOR_NAME_TAG: pipeline.sensor_name}
    if run_request.run_key:
        tags[RUN_KEY_TAG] = run_request.run_key
    landing = _execute(defs, instance, selection, tags, log_level=log_level, pipeline=pipeline.name)
    evaluations = landing.get_asset_check_evaluations()
    summary.checks = {e.check_name: e.passed for e in evaluations}
    summary.warnings = sorted(
        e.check_name
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    )
    summary.outcome = "landed"


def _failed_jobs(summary: RunSummary, backend: BatchBackend, submission: Submission) -> str:
    """One line for a submission whose every job ended without output: the first error."""
    handler = SubmissionHandler(backend=backend, submission=submission)
    errors = [status.error.message for status in handler.statuses() if status.error]
    cause = f" (first error: {errors[0]})" if errors else ""
    return f"{summary.outcome}{cause}; see `embed-assets status`"


def _tick_until_settled(
    *,
    defs: dg.Definitions,
    pipeline: EmbeddingPipeline,
    instance: dg.DagsterInstance,
    started: float,
    poll_seconds: float,
    timeout_seconds: float,
    progress: Callable[[str], None],
    log_level: str,
) -> tuple[str | None, dg.RunRequest | None, str]:
    """Ticks the job sensor until it requests the landing run or gives a final answer.

    Returns the last cursor, the run request (None: nothing to land) and the last message.
    """
    sensor = defs.resolve_sensor_def(pipeline.sensor_name)
    cursor: str | None = None
    run_request: dg.RunRequest | None = None
    last_message = ""
    last_said = time.monotonic()
    while True:
        with dg.build_sensor_context(  # a context manager: resources may nest (GCSResource)
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={pipeline.names.backend_key: _resource(defs, pipeline.names.backend_key)},
        ) as context:
            context.log.setLevel(log_level)
            tick = sensor.evaluate_tick(context)
        cursor = tick.cursor
        for event in tick.asset_events:
            instance.report_runless_asset_event(event)
        if tick.run_requests:
            run_request = tick.run_requests[0]
            break
        message = tick.skip_message or ""
        now = time.monotonic()
        if message != last_message or now - last_said >= PROGRESS_EVERY_SECONDS:
            progress(f"sensor: {message} ({now - started:.0f} s)")
            last_message, last_said = message, now
        if cursor is None or read_cursor(cursor).outcome is not None:
            break  # a final answer: nothing to land, already landed, or every job failed
        if time.monotonic() - started > timeout_seconds:
            raise PipelineRunError(f"jobs did not finish within {timeout_seconds:.0f} s")
        time.sleep(poll_seconds)
    return cursor, run_request, last_message


def _fill(
    summary: RunSummary, instance: dg.DagsterInstance, pipeline: EmbeddingPipeline, *, landed: bool
) -> None:
    submission = latest_submission(instance, pipeline.batch_job_key)
    if submission is None:
        return
    summary.rows_read = submission.corpus_rows
    summary.documents = submission.documents or submission.corpus_rows
    summary.rejected = submission.rejected_rows
    summary.rejected_by_reason = dict(submission.rejected_by_reason)
    summary.submission_id = submission.submission_id
    summary.prompts = submission.prompts
    summary.characters = submission.characters
    summary.jobs = len(submission.jobs)
    if not landed:  # nothing changed: every accepted row is already in the table
        summary.embedded = submission.unchanged_rows
        return
    landing = latest_landing(instance, pipeline.embeddings_key)
    summary.embedded = int(landing.get("embedded_rows", 0))
    summary.written = int(landing.get("written_rows", 0))
    summary.reused = int(landing.get("reused_rows", 0))
    summary.deleted = int(landing.get("deleted_rows", 0))
    summary.failed = int(landing.get("failed_rows", 0))
    summary.failed_examples = str(landing.get("failed_examples", ""))
    summary.tokens = int(landing.get("tokens", 0))
    summary.shortened_vectors = int(landing.get("shortened_vectors", 0))
    summary.duplicate_jobs = int(landing.get("duplicate_jobs", 0))
    summary.job_states = dict(landing.get("job_states") or {})
    summary.serving_model = landing.get("serving_model")
    summary.building_model = landing.get("building_model")
