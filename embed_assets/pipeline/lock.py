"""One refresh per pipeline at a time: a lock file beside the Dagster instance."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RefreshInProgress(RuntimeError):
    """Another process is refreshing the pipeline; the message names it."""


@contextmanager
def refresh_lock(folder: Path, pipeline: str) -> Iterator[None]:
    """Holds the pipeline's refresh lock for a `with` block, or refuses at once.

    The lock is an OS file lock: it goes away with the process that held it, so a killed
    refresh never leaves the pipeline locked.

    Raises:
        RefreshInProgress: another process holds the lock (the message gives its pid).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pipeline}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RefreshInProgress(
                f"pipeline {pipeline} is being refreshed by process {holder}; nothing was "
                "submitted. Wait for it to finish (or stop it) and run again."
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
