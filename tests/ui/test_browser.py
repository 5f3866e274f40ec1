"""The UI in a real Chromium, as a person walks it: the pages read well, a no-op "Materialize
all" leaves the checks showing the table, and an instance with nothing changed launches nothing.
"""

import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.ui.conftest import (
    ASSETS,
    DOWNSTREAM,
    DagsterDev,
    check_states,
    latest,
    location,
    run_ids,
    run_status,
    source_observed,
    stale,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHROMIUM = shutil.which("chromium")
# flags that work offline as root (see ../shared/notes/browser-tests.md); Playwright gives each
# launch a fresh profile of its own
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE_SECONDS = 120
CHECKS = {"coverage", "dimension", "finite_values", "rows_accounted", "not_truncated"}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test`")
def test_the_pages_a_no_op_materialize_all_and_an_idle_instance_in_chromium(
    dagster_dev: DagsterDev, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, sync_playwright

    dev = dagster_dev
    code_location = location(dev)
    dev.launch(code_location, ASSETS[:2])
    dev.wait_for(
        lambda: latest(dev, ["docs", "embedding_batch_job"]),
        timeout=120,
        what="the batch job's materialization",
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})

            def visit(path: str, *texts: str) -> Page:
                page.goto(f"{dev.url}{path}", wait_until="networkidle")
                skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter
                if skip.count():
                    skip.first.click()
                for text in texts:
                    page.get_by_text(text, exact=True).first.wait_for(timeout=60_000)
                return page

            visit("/assets/docs/embedding_batch_job", "prompts", "estimated_cost", "jobs", "rows")
            body = page.inner_text("body")
            assert "40 corpus rows: 40 to embed" in body
            assert not page.locator('a[href^="file:"]').count()  # no dead file:// links
            assert page.get_by_text(re.compile(r"jobs/\d+")).count() >= 1  # plain text
            assert "embed_assets/submission_id" not in body
            page.screenshot(path=str(tmp_path / "batch_job_page.png"), full_page=True)

            # the sensor lands the jobs; then every asset is fresh and the source observed
            dev.wait_for(lambda: latest(dev, DOWNSTREAM), timeout=240, what="the landing")
            dev.wait_for(
                lambda: (
                    set(stale(dev).values()) == {"FRESH"}
                    and source_observed(dev)
                    and not run_ids(dev, ("QUEUED", "STARTING", "STARTED"))
                ),
                timeout=240,
                what=f"every asset fresh, the source observed, no run going (now {stale(dev)})",
                every=2.0,
            )

            lineage = f"/locations/__repository__@{quote(code_location)}/asset-groups/docs"
            visit(lineage, "source", "corpus", "embedding_batch_job", "embeddings")
            before = set(run_ids(dev))
            materialize_all = page.get_by_role("button").filter(has_text="Materialize all")
            materialize_all.first.click()
            no_op = dev.wait_for(
                lambda: set(run_ids(dev)) - before, timeout=60, what="the Materialize-all run"
            )
            (run_id,) = no_op
            status = dev.wait_for(
                lambda: (s := run_status(dev, run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
                timeout=180,
                what="the Materialize-all run to finish",
            )
            assert status == "SUCCESS"
            idle_from = time.monotonic()
            # every check shows the table as it is: passed, never "skipped" for a no-op
            assert check_states(dev, ["docs", "embeddings"]) == dict.fromkeys(CHECKS, "SUCCEEDED")
            visit("/assets/docs/embeddings?view=checks", *CHECKS)
            checks_text = page.inner_text("body")
            assert "Skipped" not in checks_text
            page.screenshot(path=str(tmp_path / "checks.png"), full_page=True)

            # the table's columns, all of them, with the store's types
            visit("/assets/docs/embeddings", "Columns", "document_id", "chunk_end")
            overview = page.inner_text("body")
            assert "FLOAT[]" in overview and "FLOAT[256]" not in overview
            page.screenshot(path=str(tmp_path / "embeddings.png"), full_page=True)

            remaining = IDLE_SECONDS - (time.monotonic() - idle_from)
            time.sleep(max(0.0, remaining))  # nothing changes: nothing may be launched
            assert set(run_ids(dev)) == before | no_op
            visit("/runs")
            page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "batch_job_page.png").stat().st_size > 10_000
