"""One refresh per pipeline at a time: lock files beside the Dagster instance.

Two locks per pipeline: the CLI holds `refresh` for a whole refresh (submit, wait, land); the
batch-job asset holds `submit` while it plans and submits, whoever launched its run, so two
runs can never both submit the same texts.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embed_assets.errors import RefreshInProgress


def lock_folder(instance_root: str | Path) -> Path:
    """The folder of the lock files of a Dagster instance."""
    return Path(instance_root) / "locks"


@contextmanager
def refresh_lock(
    folder: Path, pipeline: str, *, holder: str | None = None, kind: str = "refresh"
) -> Iterator[None]:
    """Holds one of the pipeline's locks for a `with` block, or refuses at once.

    The lock is an OS file lock: it goes away with the process that held it, so a killed
    refresh never leaves the pipeline locked.

    Args:
        folder: where the lock files are (see `lock_folder`).
        pipeline: the pipeline's name.
        holder: who holds it, for the refusal others see (default: this process).
        kind: `refresh` (a whole CLI refresh) or `submit` (the batch-job asset).

    Raises:
        RefreshInProgress: someone else holds the lock (the message names them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{pipeline}.lock" if kind == "refresh" else f"{pipeline}.{kind}.lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or "another process"
            raise RefreshInProgress(
                f"pipeline {pipeline} is being refreshed by {other}; nothing was "
                "submitted. Wait for it to finish (or stop it) and run again."
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(holder or f"process {os.getpid()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
