"""A real BigQuery emulator on 127.0.0.1: local-bigquery, in its own Python 3.13 environment.

local-bigquery needs Python 3.13 and DuckDB 1.5.5 (for the ducklake and spatial extensions that
ship as wheels), so it cannot live in the project's environment: `make bigquery-emulator` builds
`.venv-bigquery/` from a lock file, and `BigQueryEmulator` runs it as a subprocess through a
small launcher that keeps DuckDB offline. google-cloud-bigquery (and this library's stores and
readers) talk to it when `BIGQUERY_EMULATOR_HOST` holds its URL; the Storage Read API is served
over gRPC on `grpc_port`.
"""

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from embed_assets.bigquery.client import emulator_client
from embed_assets.testing.gcs import free_port
from embed_assets.testing.server import LocalServer, LocalServerError, stop_process

ENVIRONMENT = ".venv-bigquery"  # built by `make bigquery-emulator`
PYTHON_VARIABLE = "EMBED_ASSETS_BIGQUERY_PYTHON"
_LAUNCHER = Path(__file__).parent / "bigquery_emulator" / "launch.py"


def emulator_python() -> Path:
    """Returns the interpreter of the emulator's environment.

    `EMBED_ASSETS_BIGQUERY_PYTHON` wins; otherwise `.venv-bigquery/bin/python` in the current
    folder or in the checkout this package is installed from.

    Raises:
        RuntimeError: no environment was built; the message says how to build one.
    """
    if os.environ.get(PYTHON_VARIABLE):
        return Path(os.environ[PYTHON_VARIABLE])
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / ENVIRONMENT / "bin" / "python"
        if candidate.exists():
            return candidate
    raise LocalServerError(
        f"the BigQuery emulator's environment ({ENVIRONMENT}/) is missing: run "
        f"`make bigquery-emulator` in the checkout, or set {PYTHON_VARIABLE}"
    )


class BigQueryEmulator(LocalServer):
    """Starts local-bigquery on 127.0.0.1 and stops it again; its data lives in a temp folder.

    Example:
        ```python
        with BigQueryEmulator(project="test-project") as bigquery:
            os.environ["BIGQUERY_EMULATOR_HOST"] = bigquery.url
        ```

    Args:
        project: the project created at start (others are created on first use).
        port: REST port (default: a free one).
        grpc_port: Storage Read API port (default: a free one).
    """

    def __init__(
        self,
        *,
        project: str = "test-project",
        port: int | None = None,
        grpc_port: int | None = None,
    ):
        self.project = project
        self.port = port or free_port()
        self.grpc_port = grpc_port or free_port()
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The REST base URL, the value for `BIGQUERY_EMULATOR_HOST`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """The server's log file while it runs."""
        return Path(self._folder.name) / "local-bigquery.log" if self._folder else None

    def start(self, *, timeout: float = 60.0) -> Self:
        """Starts the server and waits until it answers.

        Raises:
            RuntimeError: it exited or did not answer within `timeout`; the message quotes its log.
        """
        self._folder = tempfile.TemporaryDirectory(prefix="embed-assets-bigquery-")
        root = Path(self._folder.name)
        with open(root / "local-bigquery.log", "wb") as log:
            self._process = subprocess.Popen(
                [
                    str(emulator_python()),
                    str(_LAUNCHER),
                    "serve",
                    "--host=127.0.0.1",
                    f"--port={self.port}",
                    f"--grpc-port={self.grpc_port}",
                    f"--project={self.project}",
                    "--dataset=default",
                    f"--data-dir={root / 'data'}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self._log_tail()
                self.stop()
                raise LocalServerError(f"the BigQuery emulator did not start on {self.url}: {tail}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.url}/bigquery/v2/projects/{self.project}/datasets", timeout=2
            ):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "no log"
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "empty log"

    def datasets(self) -> set[tuple[str, str]]:
        """Every dataset the server holds, as `(project, dataset)`, in every project."""
        with contextlib.closing(emulator_client(self.url, project=self.project)) as client:
            projects = {self.project, *(p.project_id for p in client.list_projects())}
            return {
                (project, dataset.dataset_id)
                for project in projects
                for dataset in client.list_datasets(project=project)
            }

    def drop_datasets(self, datasets: Iterable[tuple[str, str]]) -> None:
        """Drops `(project, dataset)` datasets with their tables.

        The server slows down with every table it holds (each statement reads its whole
        catalog), so a server that lives through many tests drops what each one made.
        """
        with contextlib.closing(emulator_client(self.url, project=self.project)) as client:
            for project, dataset in datasets:
                client.delete_dataset(
                    f"{project}.{dataset}", delete_contents=True, not_found_ok=True
                )

    def stop(self) -> None:
        """Stops the server and removes its data."""
        if self._process is not None:
            stop_process(self._process, timeout=10)
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
