"""Landing reads file by file: one unreadable line costs its row, never the submission."""

import time
from pathlib import Path

import dagster as dg

from embed_assets.pipeline.history import latest_submission
from embed_assets.pipeline.metadata import RUN_TAG_SUBMISSION
from embed_assets.testing import FaultyLocalBatchBackend
from tests.helpers import make_corpus, materialize_submission, table, tick_sensor


def test_a_file_truncated_mid_line_fails_only_that_row(
    instance: dg.DagsterInstance, corpus_file, build, workdir: Path
) -> None:  # type: ignore[no-untyped-def]
    """20 rows in 4 files, one file cut in its last line: 19 rows land, 1 fails naming the line."""
    backend = FaultyLocalBatchBackend(workdir=str(workdir), rows_per_output_file=5)
    corpus = make_corpus(20)
    pipeline, defs = build(corpus_file(corpus), backend=backend)
    materialize_submission(defs, pipeline, instance)
    submission = latest_submission(instance, pipeline.batch_job_key)
    assert submission is not None
    deadline = time.monotonic() + 60
    status = backend.get(submission.jobs[0].name)
    while not status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.2)
        status = backend.get(submission.jobs[0].name)
    files = backend.output_files(status)
    assert len(files) == 4
    broken = Path(files[2])
    lines = broken.read_bytes().rstrip(b"\n").split(b"\n")
    broken.write_bytes(b"\n".join([*lines[:-1], lines[-1][: len(lines[-1]) // 2]]))

    tick = tick_sensor(defs, pipeline, instance, None)
    assert tick.run_requests
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[pipeline.embeddings_key],
        tags={RUN_TAG_SUBMISSION: submission.submission_id},
    )
    assert result.success
    stored = set(table(defs, pipeline)["id"])
    assert len(stored) == 19
    failures = defs.resources[pipeline.names.store_key].failures(pipeline.name)
    assert len(failures) == 1
    assert set(failures["id"]) == set(corpus["id"]) - stored
    reason = failures["reason"].iloc[0]
    assert broken.name in reason and "line 5 is not valid JSON" in reason


def test_a_submission_made_for_settings_since_abandoned_is_not_landed(
    instance: dg.DagsterInstance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    """Another task type, then back before landing: its vectors never reach the table."""
    corpus = make_corpus(10)
    path = corpus_file(corpus)
    pipeline, defs = build(path)
    run(pipeline, defs)
    before = table(defs, pipeline)
    other, other_defs = build(path, task_type="RETRIEVAL_QUERY")
    materialize_submission(other_defs, other, instance)
    abandoned = latest_submission(instance, other.batch_job_key)
    assert abandoned is not None and abandoned.prompts == 10
    materialize_submission(defs, pipeline, instance)  # the old settings claim the table again
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[pipeline.embeddings_key],
        tags={RUN_TAG_SUBMISSION: abandoned.submission_id},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data is not None
    description = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert "task type RETRIEVAL_QUERY" in description and "not landed" in description
    after = table(defs, pipeline)
    assert after[["id", "content_hash"]].equals(before[["id", "content_hash"]])
