"""The UI in a real Chromium: the batch-job page reads well, the lineage shows the pipeline."""

import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.ui.conftest import ASSETS, DagsterDev, latest, location

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

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


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by `make test`")
def test_the_batch_job_page_and_the_lineage_in_chromium(
    dagster_dev: DagsterDev, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

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
            page.goto(f"{dev.url}/assets/docs/embedding_batch_job", wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            if skip.count():
                skip.first.click()
            for label in ("prompts", "jobs", "job_names", "estimated_cost_usd", "manifest_uri"):
                page.get_by_text(label, exact=True).first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "40" in body  # the prompts of the 40-row corpus
            assert not page.locator('a[href^="file:"]').count()  # no dead file:// links
            job_cell = page.get_by_text(re.compile(r"jobs/\d+"))
            assert job_cell.count() >= 1  # the local job, as plain text
            page.screenshot(path=str(tmp_path / "batch_job_page.png"), full_page=True)

            lineage = f"{dev.url}/locations/__repository__@{quote(code_location)}/asset-groups/docs"
            page.goto(lineage, wait_until="networkidle")
            for name in ("source", "corpus", "embedding_batch_job", "embeddings"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "lineage.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "batch_job_page.png").stat().st_size > 10_000
