"""`FaultyLocalBatchBackend`: the local backend with slow or failing jobs, for tests."""

from pathlib import Path

from pydantic import Field

from embed_assets.backends.local.engine import ROWS_PER_OUTPUT_FILE, LocalJobEngine
from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.testing.faults import JobFault
from embed_assets.testing.faulty_worker import FAULTY_WORKER_MODULE, write_job_faults


class FaultyJobEngine(LocalJobEngine):
    """A job engine whose workers run with `fault` installed."""

    def __init__(
        self,
        root: str | Path,
        *,
        fault: JobFault,
        max_running_jobs: int = 1,
        rows_per_output_file: int = ROWS_PER_OUTPUT_FILE,
    ) -> None:
        super().__init__(
            root,
            max_running_jobs=max_running_jobs,
            worker_module=FAULTY_WORKER_MODULE,
            rows_per_output_file=rows_per_output_file,
        )
        self.fault = fault

    def start_worker(self, job_id: str) -> None:
        """Writes the job's faults, then starts its worker."""
        write_job_faults(self.job_dir(job_id), self.fault.worker_faults())
        super().start_worker(job_id)


class FaultyLocalBatchBackend(LocalBatchBackend):
    """`LocalBatchBackend` whose jobs are slowed down or fail rows, to test what users meet.

    Example:
        ```python
        backend = FaultyLocalBatchBackend(workdir=str(tmp_path), seconds_per_chunk=30)
        ```
    """

    seconds_per_chunk: float = Field(
        default=0.0, description="Seconds a worker waits after each chunk of 512 rows."
    )
    fail_every_nth_row: int = Field(
        default=0, description="Every Nth row of a job fails with a per-row status (0: never)."
    )
    rows_per_output_file: int = Field(
        default=ROWS_PER_OUTPUT_FILE, description="Prediction rows per output file."
    )
    crash: bool = Field(
        default=False, description="A worker aborts after its first chunk (a native crash)."
    )

    def engine(self) -> LocalJobEngine:
        """Returns an engine whose workers apply this backend's faults."""
        fault = JobFault(
            seconds_per_chunk=self.seconds_per_chunk,
            fail_every_nth_row=self.fail_every_nth_row,
            crash=self.crash,
        )
        return FaultyJobEngine(
            Path(self.workdir) / "jobs",
            fault=fault,
            max_running_jobs=self.max_running_jobs,
            rows_per_output_file=self.rows_per_output_file,
        )
