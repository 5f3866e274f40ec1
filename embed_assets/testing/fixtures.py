"""pytest fixtures that start the Vertex emulator (and its GCS emulator) and always stop them.

Use them from a `conftest.py`:

```python
from embed_assets.testing.fixtures import make_vertex_emulator, vertex_emulator  # noqa: F401
```
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
