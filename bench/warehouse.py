"""Figure 8: the warehouse-native path's memory does not grow with the corpus.

The corpus (the preparation figure's smallest and largest sizes: 1,000,000 and 5,000,000 rows
in the full run) is generated in the BigQuery emulator, and the corpus and batch-job assets'
work (validate, hash, diff, shard, write prompts tables, create jobs) runs in a fresh process
against it and the Vertex emulator, whose jobs are held in PENDING (embedding millions of
prompts is not what is measured). Peak RSS of that process at the larger size is compared
with the same process at the smaller.
"""

import os
from pathlib import Path
from typing import Any

from bench.harness import Row, ratio_row, run_task

PROJECT = "bench-project"
GENERATE_SQL = """
CREATE OR REPLACE TABLE `{table}` AS
SELECT CONCAT('doc-', CAST(n AS STRING)) AS id,
    CONCAT('document ', CAST(n AS STRING), ' talks about ',
        ['tea', 'maps', 'rivers', 'jazz', 'glass'][OFFSET(MOD(n, 5))],
        ' and the number ', CAST(n * 7919 AS STRING), ' in some detail') AS content
FROM UNNEST(GENERATE_ARRAY(1, {rows})) n
"""


def warehouse(*, workdir: Path, sizes: Any, repeats: int) -> tuple[list[Row], dict[str, Any]]:
    """Peak RSS at the largest corpus vs the smallest; wall time of each."""
    from embed_assets.bigquery.client import EMULATOR_VARIABLE, bigquery_client, run_query
    from embed_assets.testing import JobFault, VertexEmulator
    from embed_assets.testing.bigquery_server import BigQueryEmulator

    counts = sorted({min(sizes.corpus_rows), max(sizes.corpus_rows)})
    measured: dict[int, Any] = {}
    with (
        BigQueryEmulator(project=PROJECT) as bigquery,
        VertexEmulator(
            bigquery_url=bigquery.url,
            fault=JobFault(stuck_pending=True),
            workdir=workdir / "vertex",
        ) as vertex,
    ):
        os.environ[EMULATOR_VARIABLE] = bigquery.url
        with bigquery_client(project=PROJECT) as client:
            for count in counts:
                for dataset in (f"raw_{count}", f"staging_{count}"):
                    client.create_dataset(f"{PROJECT}.{dataset}", exists_ok=True)
                run_query(
                    client, GENERATE_SQL.format(table=f"{PROJECT}.raw_{count}.docs", rows=count)
                )
        for count in counts:  # one run each: a second run would adopt the first one's jobs
            measured[count] = run_task(
                "warehouse_ours",
                1,
                corpus=f"bq://{PROJECT}.raw_{count}.docs",
                staging=f"bq://{PROJECT}.staging_{count}",
                dataset=f"embeddings_{count}",
                endpoint=vertex.endpoint,
                project=PROJECT,
                pipeline=f"docs{count}",  # another pipeline: it must not adopt the last one's jobs
            )
        # the same work through Dagster, resources passed to build_definitions or bound once
        # in dg.Definitions: both must keep the rows in BigQuery, memory as flat
        through: dict[str, Any] = {}
        for label, count, bound in (
            ("bound", counts[0], True),
            ("bound", counts[-1], True),
            ("passed", counts[-1], False),
        ):
            through[f"{label}_{count}"] = run_task(
                "warehouse_dagster",
                1,
                corpus=f"bq://{PROJECT}.raw_{count}.docs",
                staging=f"bq://{PROJECT}.staging_{count}",
                dataset=f"embeddings_{count}_{label}",
                endpoint=vertex.endpoint,
                project=PROJECT,
                pipeline=f"dagster{count}{label}",
                bound_in_definitions=bound,
            )
        os.environ.pop(EMULATOR_VARIABLE, None)
    small, large = measured[counts[0]], measured[counts[-1]]
    bound_small, bound_large = through[f"bound_{counts[0]}"], through[f"bound_{counts[-1]}"]
    passed_large = through[f"passed_{counts[-1]}"]
    rows = [
        ratio_row(
            f"warehouse-native peak RSS, {counts[-1]:,} vs {counts[0]:,} corpus rows",
            ours=large.peak_rss_mb,
            baseline=small.peak_rss_mb,
            unit="MB",
            at_most=1.2,
        ),
        Row(
            f"warehouse-native prompts submitted at {counts[-1]:,} rows",
            large.extra("prompts"),
            counts[-1],
            large.extra("prompts") / counts[-1],
            "= 1x",
            large.extra("prompts") == counts[-1],
            "prompts",
            note=f"{large.extra('jobs')} jobs",
        ),
        ratio_row(
            f"warehouse-native through Dagster, resources bound in dg.Definitions: peak RSS, "
            f"{counts[-1]:,} vs {counts[0]:,} corpus rows",
            ours=bound_large.peak_rss_mb,
            baseline=bound_small.peak_rss_mb,
            unit="MB",
            at_most=1.2,
        ),
        ratio_row(
            f"warehouse-native through Dagster at {counts[-1]:,} rows: peak RSS, resources bound "
            "in dg.Definitions vs passed to build_definitions",
            ours=bound_large.peak_rss_mb,
            baseline=passed_large.peak_rss_mb,
            unit="MB",
            at_most=1.2,
        ),
        Row(
            "runs through Dagster whose rows stayed in BigQuery (both bindings, both sizes)",
            sum(bool(run.extra("in_bigquery")) for run in through.values()),
            len(through),
            sum(bool(run.extra("in_bigquery")) for run in through.values()) / len(through),
            "= 1x",
            all(run.extra("in_bigquery") for run in through.values())
            and all(
                run.extra("prompts") == count
                for key, run in through.items()
                for count in [int(key.split("_")[1])]
            ),
            "runs",
            note="each submitted every row",
        ),
    ]
    return rows, {
        **{
            f"dagster_{key}": {
                "seconds": run.seconds,
                "peak_rss_mb": run.peak_rss_mb,
                "prompts": run.extra("prompts"),
                "in_bigquery": run.extra("in_bigquery"),
            }
            for key, run in through.items()
        },
        **{
            str(count): {
                "seconds": m.seconds,
                "peak_rss_mb": m.peak_rss_mb,
                "prompts": m.extra("prompts"),
                "jobs": m.extra("jobs"),
            }
            for count, m in measured.items()
        },
    }
