"""A spend limit: a refresh above `max_prompts_per_refresh` or `max_estimated_cost_usd` submits
nothing, deletes nothing and says how to allow it once (run config, CLI flag, YAML field)."""

from pathlib import Path

import pytest
from google.cloud import storage

from embed_assets.cli.runner import PipelineRunError, run_pipeline
from embed_assets.pipeline.config import RefreshConfig
from embed_assets.pipeline.history import latest_submission
from embed_assets.pipeline.metadata import ESTIMATED_COST_USD, ESTIMATED_PROMPTS
from tests.cli.test_commands import cli
from tests.helpers import assert_accounted, make_corpus, table

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend_kind() -> str:
    """The pipelines in this file pay for their prompts: Vertex (emulated)."""
    return "vertex"


def test_a_refresh_above_the_prompt_limit_submits_nothing_until_allowed_once(
    vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(25)
    pipeline, defs = build(corpus_file(corpus), max_prompts_per_refresh=10)
    with pytest.raises(PipelineRunError) as refused:
        run(pipeline, defs)
    message = str(refused.value)
    assert "25 prompts" in message and "max_prompts_per_refresh=10" in message
    assert "allow_over_budget: true" in message and "--allow-over-budget" in message
    assert "\n" not in message
    assert vertex_emulator.calls["create"] == 0 and vertex_emulator.paid_prompts() == 0
    assert list(storage.Client(project="p").list_blobs("embed-assets")) == []
    assert table(defs, pipeline).empty
    allowed = run_pipeline(
        defs=defs,
        pipeline=pipeline,
        instance=instance,
        poll_seconds=0.2,
        refresh=RefreshConfig(allow_over_budget=True),
    )
    assert (allowed.prompts, allowed.embedded) == (25, 25)
    assert_accounted(allowed, corpus)
    corpus.loc[[0, 1, 2], "content"] = ["changed a", "changed b", "changed c"]
    corpus_file(corpus)
    small = run(pipeline, defs)  # within the limit: no flag needed
    assert (small.prompts, small.written) == (3, 3)
    assert vertex_emulator.paid_prompts() == 28


def test_a_refresh_above_the_cost_limit_is_refused_with_its_estimate(
    vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(
        corpus_file(make_corpus(40)), model="gemini-embedding-001", max_estimated_cost_usd=1e-6
    )
    with pytest.raises(
        PipelineRunError, match=r"40 prompts, [\d,]+ characters, at most [\d,]+ tokens"
    ):
        run(pipeline, defs)
    assert vertex_emulator.calls["create"] == 0
    failed = [
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(instance.get_runs(limit=1)[0].run_id).records
        if record.event_log_entry.dagster_event
        and record.event_log_entry.dagster_event.is_step_failure
    ]
    metadata = failed[0].step_failure_data.user_failure_data.metadata  # type: ignore[union-attr]
    assert metadata[ESTIMATED_PROMPTS].value == 40
    assert metadata[ESTIMATED_COST_USD].value > 1e-6


def test_the_estimate_is_in_the_batch_job_s_metadata_before_its_jobs_are_created(
    vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(corpus_file(make_corpus(12)))
    run(pipeline, defs)
    observation = instance.get_latest_materialization_event(pipeline.batch_job_key)
    records = instance.fetch_observations(pipeline.batch_job_key, limit=10).records
    planned = [r for r in records if ESTIMATED_PROMPTS in r.asset_observation.metadata]  # type: ignore[union-attr]
    assert planned and planned[-1].asset_observation.metadata[ESTIMATED_PROMPTS].value == 12  # type: ignore[union-attr]
    assert observation is not None and planned[-1].timestamp <= observation.timestamp


def test_the_cli_refuses_over_the_limit_in_one_line_and_allows_it_with_the_flag(
    tmp_path: Path,
) -> None:
    make_corpus(30).to_json(tmp_path / "docs.jsonl", orient="records", lines=True)
    args = ("--workdir", "w", "run", "--corpus", "docs.jsonl", "--model", "lexical-hash")
    refused = cli(*args, "--max-prompts-per-refresh", "5", cwd=tmp_path)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_prompts_per_refresh=5" in lines[0], refused.stderr
    allowed = cli(*args, "--max-prompts-per-refresh", "5", "--allow-over-budget", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "30 prompts" in allowed.stdout


SCRIPTS = {  # texts that tokenize densely (a token a character or more) and sparsely
    "latin": "document {i} about rivers, mountains and the number {i}{i}{i}",
    "cjk": "東京は日本の首都です。第{i}章は川と山と海についての文書です。",
    "emoji": "{i} 😀🎉🚀✨ 🌍🌋🏔️ party",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_spend_estimate_is_never_below_the_tokens_counted(
    vertex_emulator, corpus_file, build, run, instance, script: str
) -> None:  # type: ignore[no-untyped-def]
    """gemini-embedding-001 bills tokens: the estimate is at least what the service counts."""
    corpus = make_corpus(20).assign(content=[SCRIPTS[script].format(i=i) for i in range(20)])
    pipeline, defs = build(corpus_file(corpus), model="gemini-embedding-001")
    summary = run(pipeline, defs)
    submission = latest_submission(instance, pipeline.batch_job_key)
    assert submission is not None and summary.tokens > 0
    assert submission.tokens >= summary.tokens  # the estimate, and the tokens counted
    assert submission.tokens <= submission.characters  # and at most one per character


def test_a_cjk_corpus_under_a_spend_limit_is_refused_where_four_characters_a_token_passed(
    vertex_emulator, corpus_file, build, run, instance
) -> None:  # type: ignore[no-untyped-def]
    corpus = make_corpus(30).assign(content=[SCRIPTS["cjk"].format(i=i) for i in range(30)])
    characters = int(corpus["content"].str.len().sum())
    price = 0.075 / 1e6  # gemini-embedding-001, batch, per token
    limit = characters / 2 * price  # above characters / 4 tokens, below a token a character
    pipeline, defs = build(
        corpus_file(corpus), model="gemini-embedding-001", max_estimated_cost_usd=limit
    )
    with pytest.raises(PipelineRunError) as refused:
        run(pipeline, defs)
    assert "at most" in str(refused.value) and "tokens" in str(refused.value)
    assert vertex_emulator.calls["create"] == 0
    allowed = run_pipeline(
        defs=defs,
        pipeline=pipeline,
        instance=instance,
        poll_seconds=0.2,
        refresh=RefreshConfig(allow_over_budget=True),
    )
    assert allowed.tokens * price > limit  # the service counted more than the limit allowed
