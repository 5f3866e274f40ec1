"""The local job worker with faults installed: `python -m embed_assets.testing.faulty_worker DIR`.

The production worker knows no faults; it offers `WorkerHooks`. This module reads the faults
that the testing package wrote beside the job record (`faults.json`) and runs the production
worker with hooks that wait in PENDING, slow chunks down, fail rows, or change the final state.
"""

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from embed_assets.backends.local.worker import WorkerHooks, main

FAULTY_WORKER_MODULE = "embed_assets.testing.faulty_worker"
FAULTS_FILE = "faults.json"


def write_job_faults(job_folder: Path, faults: Mapping[str, Any]) -> None:
    """Writes the faults one job's worker will apply (before the worker starts)."""
    (job_folder / FAULTS_FILE).write_bytes(orjson.dumps(dict(faults)))


def read_job_faults(job_folder: Path) -> dict[str, Any]:
    """Reads the faults written for a job ({} when none were)."""
    path = job_folder / FAULTS_FILE
    return orjson.loads(path.read_bytes()) if path.exists() else {}


class FaultHooks(WorkerHooks):
    """Hooks that apply `JobFault.worker_faults()` settings to one job's run."""

    def __init__(self, faults: Mapping[str, Any]) -> None:
        self.pending_seconds = float(faults.get("pending_seconds", 0.0))
        self.seconds_per_chunk = float(faults.get("seconds_per_chunk", 0.0))
        self.fail_every_nth_row = int(faults.get("fail_every_nth_row", 0))
        self.state: str | None = faults.get("final_state")
        self.error: dict[str, Any] | None = faults.get("error")
        self.failed_rows_end_succeeded = bool(faults.get("failed_rows_end_succeeded", False))
        self.full_length_vectors = bool(faults.get("full_length_vectors", False))
        self.failed_rows_apart = bool(faults.get("errors_apart", False))
        self.partial_output = bool(faults.get("partial_output", False))
        self.crash = bool(faults.get("crash", False))

    def records_output_info(self) -> bool:
        """A job that stopped with partial output has no `outputInfo`."""
        return not self.partial_output

    def dimensionality(self, requested: int | None) -> int | None:
        """Ignores the requested dimensionality when the fault says so (full-length vectors)."""
        return None if self.full_length_vectors else requested

    def errors_apart(self) -> bool:
        """Writes failed legacy rows to `errors_*` files or an errors table."""
        return self.failed_rows_apart

    def before_running(self, check_cancel: Callable[[], None]) -> None:
        """Waits in PENDING for `pending_seconds` (a cancel still ends the wait)."""
        pending_until = time.monotonic() + self.pending_seconds
        while time.monotonic() < pending_until:
            check_cancel()
            time.sleep(0.2)

    def after_chunk(self, rows_done: int) -> None:
        """Sleeps `seconds_per_chunk` after each chunk, so a job takes time; or aborts."""
        if self.crash:
            os.abort()
        if self.seconds_per_chunk:
            time.sleep(self.seconds_per_chunk)

    def row_status(self, position: int, status: str) -> str:
        """Fails every `fail_every_nth_row`-th row that has not failed already."""
        every = self.fail_every_nth_row
        if not status and every and (position + 1) % every == 0:
            return "13: injected row failure"
        return status

    def output_lines(self, lines: list[bytes]) -> list[bytes]:
        """A job made to end FAILED, EXPIRED or CANCELLED completed no row: it writes none.

        With `partial_output`, it wrote the first half of its rows before it stopped.
        """
        if self.state and self.partial_output:
            return lines[: len(lines) // 2]
        return [] if self.state else lines

    def final_state(
        self, state: str, error: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any] | None]:
        """Ends the job in the injected state, with its error for FAILED and EXPIRED.

        A job with failed rows ends SUCCEEDED (the rows inline) unless PARTIALLY_SUCCEEDED was
        asked for.
        """
        if not self.state:
            if state == "JOB_STATE_PARTIALLY_SUCCEEDED" and self.failed_rows_end_succeeded:
                return "JOB_STATE_SUCCEEDED", error
            return state, error
        injected = None
        if self.state in ("JOB_STATE_FAILED", "JOB_STATE_EXPIRED"):
            injected = self.error or {"code": 13, "message": f"injected {self.state}"}
        return self.state, injected


if __name__ == "__main__":
    sys.exit(main(sys.argv, FaultHooks(read_job_faults(Path(sys.argv[1])))))
