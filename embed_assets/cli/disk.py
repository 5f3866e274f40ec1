"""Telling a full disk apart from other errors, so the person sees one line saying what to do."""

import shutil
from pathlib import Path

# what the layers below say when a write finds no space (OS, SQLite, DuckDB)
_NO_SPACE = ("no space left on device", "[errno 28]", "database or disk is full")
# SQLite in WAL mode reports a failed write as an I/O error: a full disk only if space is low
_MAYBE_NO_SPACE = ("disk i/o error",)
_LOW_SPACE_BYTES = 32 * 1024 * 1024


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None


def disk_full_message(error: BaseException | str, *, workdir: Path) -> str | None:
    """Returns one line saying the disk is full and what to do, or None for another error."""
    text = str(error).lower()
    cause = error.__cause__ if isinstance(error, BaseException) else None
    while cause is not None:  # the OS error may sit below a library's own
        text += " " + str(cause).lower()
        cause = cause.__cause__
    free = _free_bytes(workdir)
    definite = any(marker in text for marker in _NO_SPACE)
    likely = any(marker in text for marker in _MAYBE_NO_SPACE) and (
        free is not None and free < _LOW_SPACE_BYTES
    )
    if not (definite or likely):
        return None
    left = f" ({free / 1e6:.1f} MB free now)" if free is not None else ""
    return (
        f"no space left on the disk holding {workdir}{left}: free some space and run again; "
        "the rerun continues where this one stopped, nothing needs deleting by hand"
    )
