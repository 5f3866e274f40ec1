"""`LocalBatchBackend`: batch embedding jobs on this machine, with Vertex's lifecycle."""

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import dagster as dg
from pydantic import Field

from embed_assets.backends.base import JobRequest, JobStatus
from embed_assets.backends.local.engine import LocalJobEngine
from embed_assets.errors import ConfigError
from embed_assets.models.catalog import model_spec
from embed_assets.models.registry import local_model_names
from embed_assets.staging.base import Storage
from embed_assets.staging.files import LocalStorage

LOCAL_MAX_PROMPTS_PER_JOB = 30_000


class LocalBatchBackend(dg.ConfigurableResource):
    """Runs batch embedding jobs on this machine with a real local model.

    Each job is a detached worker process that outlives the Dagster run that submitted it,
    keeps its state in a JSON file, and writes Vertex-shaped prediction files, so the sensor
    and the assets treat it exactly like Vertex AI batch prediction.

    Example:
        ```python
        resources = {"docs_embedding_backend": LocalBatchBackend(workdir=".embed-assets")}
        ```
    """

    kind: ClassVar[str] = "python"  # the Dagster kind of the assets it serves

    workdir: str = Field(
        default=".embed-assets",
        description="Folder for staged requests, job records and prediction files.",
    )
    max_running_jobs: int = Field(
        default=1,
        description="Jobs that may embed at once; more wait in PENDING, as on Vertex.",
    )
    cancel_superseded: bool = Field(
        default=True,
        description="Cancel an earlier submission's unfinished job when a newer one needs none "
        "of its texts (jobs that hold needed texts are adopted and waited for).",
    )

    def engine(self) -> LocalJobEngine:
        """Returns the job engine that keeps this backend's job records."""
        return LocalJobEngine(Path(self.workdir) / "jobs", max_running_jobs=self.max_running_jobs)

    def staging(self) -> Storage:
        """Returns the local staging folder."""
        return LocalStorage(Path(self.workdir) / "staging")

    def validate_model(self, *, model: str, output_dimensionality: int | None) -> None:
        """Refuses models the local backend cannot run, naming the field."""
        if model not in local_model_names():
            raise ConfigError(
                f"model={model!r} is not a local model; LocalBatchBackend runs "
                f"{', '.join(local_model_names())}"
            )
        model_spec(model).check_dimensionality(output_dimensionality)

    def max_prompts_per_job(self, model: str) -> int:
        """Returns 30,000, the per-job limit of Vertex's legacy text-embedding models."""
        return LOCAL_MAX_PROMPTS_PER_JOB

    def submit(self, request: JobRequest) -> JobStatus:
        """Starts a worker for the request shard and returns the PENDING job."""
        params: dict[str, object] = {"autoTruncate": request.auto_truncate}
        if request.output_dimensionality:
            params["outputDimensionality"] = request.output_dimensionality
        record = self.engine().create(
            display_name=request.display_name,
            model=request.model,
            input_uri=request.input_uri,
            output_uri_prefix=request.output_uri_prefix,
            labels=request.labels,
            model_parameters=params,
        )
        return JobStatus.from_rest(record)

    def find_jobs(self, labels: Mapping[str, str]) -> list[JobStatus]:
        """Returns the jobs carrying all of `labels`."""
        return [
            JobStatus.from_rest(record)
            for record in self.engine().list()
            if all(record.get("labels", {}).get(k) == v for k, v in labels.items())
        ]

    def get(self, name: str) -> JobStatus:
        """Returns a job's status; a job whose worker died is reported FAILED."""
        return JobStatus.from_rest(self.engine().get(name))

    def cancel(self, name: str) -> JobStatus:
        """Asks a job to stop."""
        return JobStatus.from_rest(self.engine().cancel(name))

    def output_files(self, job: JobStatus) -> list[str]:
        """Returns every prediction file in the job's output directory."""
        if not job.output_directory:
            return []
        return LocalStorage(job.output_directory).list_jsonl(job.output_directory)

    def worker_pid(self, name: str) -> int | None:
        """Returns the process id of a job's worker (None before it started)."""
        pid = self.engine().get(name).get("workerPid")
        return int(pid) if pid is not None else None

    def console_url(self, job: JobStatus) -> str | None:
        """None: a local job has no web page (its folder is shown as a plain path)."""
        return None
