"""What the emulators share: `with` starts one and always stops it; ending a server process."""

import subprocess
from types import TracebackType
from typing import Self

from embed_assets.errors import EmbedAssetsError


class LocalServerError(EmbedAssetsError, RuntimeError):
    """An emulator did not start or is not running; the message says which and where its log is."""


class LocalServer:
    """A server on 127.0.0.1 for tests and users; `with Server() as server:` stops it at the end."""

    def start(self) -> Self:
        """Starts the server; returns once it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stops the server and removes what it stored."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(process: "subprocess.Popen[bytes]", *, timeout: float) -> None:
    """Ends a server process: SIGTERM, then SIGKILL if it is still there after `timeout` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
