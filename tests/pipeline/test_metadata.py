"""What the asset pages show: the summary first, real links or plain paths, table metadata."""

import dagster as dg
import pytest

from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # runs the whole pipeline


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, object]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return dict(event.asset_materialization.metadata)


def test_pages_lead_with_the_summary_and_carry_standard_metadata(
    instance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    pipeline, defs = build(corpus_file(make_corpus(12)))
    run(pipeline, defs)
    job_page = _metadata(instance, pipeline.batch_job_key)
    keys = list(job_page)
    assert keys[:4] == ["prompts", "jobs", "job_names", "estimated_cost_usd"]
    assert keys[-1] == "embed_assets/submission"  # the raw record last
    jobs = str(getattr(job_page["job_names"], "value", ""))
    assert "file://" not in jobs and "](" not in jobs  # a local job has no page: plain text
    table_page = _metadata(instance, pipeline.embeddings_key)
    assert str(getattr(table_page["dagster/table_name"], "value", "")).endswith(":docs")
    schema = getattr(table_page["dagster/column_schema"], "value", None)
    assert isinstance(schema, dg.TableSchema)
    assert [c.name for c in schema.columns][:3] == ["id", "content_hash", "embedding"]
    assert schema.columns[2].type == "FLOAT[256]"
    preview = str(getattr(table_page["preview"], "value", ""))
    assert preview.count("\n") == 6 and ", …]" in preview  # header, rule, 5 rows
    graph = defs.resolve_asset_graph()
    assert graph.get(pipeline.batch_job_key).kinds == {"python"}  # the local backend bound
    assert graph.get(pipeline.embeddings_key).kinds == {"duckdb"}
