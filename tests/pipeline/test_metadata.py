"""What the asset pages show: a few rows a person reads, in Dagster's own keys where they apply."""

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # runs the whole pipeline

MAX_ROWS = 14  # fewer than 15 per materialization


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, object]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return dict(event.asset_materialization.metadata)


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)


def _readable(page: dict[str, object]) -> None:
    """Few rows; no JSON tree; the library's own records one line each, last."""
    assert len(page) <= MAX_ROWS, list(page)
    assert not [k for k, v in page.items() if isinstance(v, dg.JsonMetadataValue)]
    records = [k for k in page if k.startswith("embed_assets/")]
    assert all("\n" not in str(_value(page[k])) for k in records)
    assert list(page)[len(page) - len(records) :] == records


def test_each_page_reads_in_a_few_rows_with_the_schema_and_links_that_exist(
    instance, corpus_file, build, run
) -> None:  # type: ignore[no-untyped-def]
    corpus = pd.concat(
        [make_corpus(12), pd.DataFrame([{"id": "empty", "content": "   ", "title": ""}])]
    )
    pipeline, defs = build(corpus_file(corpus), max_rejected_fraction=0.5)
    run(pipeline, defs)

    corpus_page = _metadata(instance, pipeline.corpus_key)
    _readable(corpus_page)
    assert _value(corpus_page["dagster/row_count"]) == 13
    assert (_value(corpus_page["accepted_rows"]), _value(corpus_page["rejected_rows"])) == (12, 1)
    assert "`empty`" in str(_value(corpus_page["rejections"]))  # by reason, with the id
    prepared = str(_value(corpus_page["dagster/uri"]))
    schema = _value(corpus_page["dagster/column_schema"])
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == [
        (f.name, str(f.type)) for f in pq.read_schema(prepared)
    ]

    job_page = _metadata(instance, pipeline.batch_job_key)
    _readable(job_page)
    assert list(job_page)[:3] == ["prompts", "estimated_cost", "jobs"]
    assert _value(job_page["prompts"]) == 12
    assert str(_value(job_page["estimated_cost"])).startswith("$0 (estimate")
    jobs = str(_value(job_page["jobs"]))
    assert "file://" not in jobs and "](" not in jobs  # a local job has no page: plain text
    assert not [v for v in job_page.values() if isinstance(v, dg.PathMetadataValue)]
    assert "13 corpus rows: 12 to embed" in str(_value(job_page["rows"]))

    table_page = _metadata(instance, pipeline.embeddings_key)
    _readable(table_page)
    table = str(_value(table_page["dagster/table_name"]))
    file, name = table.rsplit(":", 1)
    with duckdb.connect(file, read_only=True) as con:
        declared = [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {name}").fetchall()]
    schema = _value(table_page["dagster/column_schema"])
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == declared  # every column, its real type
    assert ("embedding", "FLOAT[]") in declared and len(declared) == 11
    figures = {k: _value(table_page[k]) for k in ("embedded_rows", "failed_rows", "rejected_rows")}
    assert figures == {"embedded_rows": 12, "failed_rows": 0, "rejected_rows": 1}
    assert "failures" not in table_page  # shown only when some failed
    assert "removed" in str(_value(table_page["staging"]))
    preview = str(_value(table_page["preview"]))
    assert preview.count("\n") == 6 and ", …]" in preview  # header, rule, 5 rows
    landing_run = instance.get_latest_materialization_event(pipeline.embeddings_key).run_id  # type: ignore[union-attr]

    run(pipeline, defs)  # nothing changed: the batch job says so and points to the landing
    job_page = _metadata(instance, pipeline.batch_job_key)
    _readable(job_page)
    status = str(_value(job_page["status"]))
    assert status.startswith("nothing new to embed: the table reflects submission ")
    in_force = job_page["submission_in_force"]
    assert isinstance(in_force, dg.DagsterRunMetadataValue) and in_force.value == landing_run
    assert instance.get_run_by_id(landing_run) is not None
    assert "jobs" not in job_page and "prompts" not in job_page
    graph = defs.resolve_asset_graph()
    assert graph.get(pipeline.batch_job_key).kinds == {"python"}  # the local backend bound
    assert graph.get(pipeline.embeddings_key).kinds == {"duckdb"}
