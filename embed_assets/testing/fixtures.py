"""pytest fixtures that start the Vertex, GCS and BigQuery emulators and always stop them.

Use them from a `conftest.py`:

```python
from embed_assets.testing.fixtures import (  # noqa: F401
    bigquery_emulator,
    bigquery_server,
    make_vertex_emulator,
    vertex_emulator,
)
```
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from embed_assets.bigquery.client import EMULATOR_VARIABLE
from embed_assets.testing.bigquery_server import BigQueryEmulator
from embed_assets.testing.emulator import VertexEmulator


@pytest.fixture
def make_vertex_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., VertexEmulator]]:
    """Returns a function that starts an emulator with any `VertexEmulator` options.

    `STORAGE_EMULATOR_HOST` is set to its GCS emulator for the test; every emulator started is
    stopped when the test ends, pass or fail.
    """
    started: list[VertexEmulator] = []

    def start(**options: Any) -> VertexEmulator:
        options.setdefault("workdir", tmp_path / f"vertex-emulator-{len(started)}")
        emulator = VertexEmulator(**options).start()
        started.append(emulator)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.gcs_url)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            emulator.stop()


@pytest.fixture
def vertex_emulator(make_vertex_emulator: Callable[..., VertexEmulator]) -> VertexEmulator:
    """A running emulator with default settings and the bucket `embed-assets`."""
    return make_vertex_emulator()


@pytest.fixture(scope="session")
def bigquery_server() -> Iterator[BigQueryEmulator]:
    """One BigQuery emulator for the session (it takes a few seconds to start); stopped at the end."""
    with BigQueryEmulator(project="test-project") as server:
        yield server


@dataclass(frozen=True)
class BigQueryTestSpace:
    """The session's BigQuery emulator, and dataset names no other test uses.

    Attributes:
        server: the running emulator.
        project: its project.
        prefix: a prefix unique to the test, for dataset names.
    """

    server: BigQueryEmulator
    project: str
    prefix: str

    def dataset(self, name: str) -> str:
        """Returns a dataset name unique to the test."""
        return f"{self.prefix}_{name}"


@pytest.fixture
def bigquery_emulator(
    bigquery_server: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BigQueryTestSpace]:
    """The BigQuery emulator, with `BIGQUERY_EMULATOR_HOST` pointing at it for this test.

    The datasets the test made (its own, and those its jobs wrote) are dropped when it ends,
    pass or fail: the session's server would otherwise slow down with every test.
    """
    monkeypatch.setenv(EMULATOR_VARIABLE, bigquery_server.url)
    before = bigquery_server.datasets()
    try:
        yield BigQueryTestSpace(
            server=bigquery_server,
            project=bigquery_server.project,
            prefix=f"t{uuid.uuid4().hex[:10]}",
        )
    finally:
        bigquery_server.drop_datasets(bigquery_server.datasets() - before)
