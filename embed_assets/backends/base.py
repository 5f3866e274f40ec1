"""The batch backend protocol and the library's own job records.

The sensor and the assets only ever see these types, never an SDK's, so every backend
(local, Vertex) is interchangeable behind them.
"""

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from embed_assets.errors import BackendError, BackendUnavailable  # noqa: F401
from embed_assets.staging.base import Storage


class JobState(Enum):
    """Batch prediction job states, as Vertex names them (without the `JOB_STATE_` prefix)."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"
    EXPIRED = "EXPIRED"
    UPDATING = "UPDATING"
    PARTIALLY_SUCCEEDED = "PARTIALLY_SUCCEEDED"
    UNSPECIFIED = "UNSPECIFIED"
    # not a Vertex state: the service no longer has the job (its GET answers 404 NOT_FOUND)
    GONE = "GONE"

    @classmethod
    def parse(cls, value: object) -> "JobState":
        """Reads `JOB_STATE_RUNNING`, `RUNNING`, or an SDK enum member."""
        text = str(getattr(value, "value", value) or "").upper()
        text = text.removeprefix("JOB_STATE_")
        try:
            return cls(text)
        except ValueError:
            return cls.UNSPECIFIED

    @property
    def is_terminal(self) -> bool:
        """True once the job will not go on.

        SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED and EXPIRED; PAUSED too (batch
        prediction jobs have no resume call), and GONE.
        """
        return self in TERMINAL_STATES

    @property
    def is_finished_on_the_service(self) -> bool:
        """True for the states in which Vertex refuses a cancel (the job ended there)."""
        return self in SERVICE_FINISHED_STATES

    @property
    def has_output(self) -> bool:
        """True for the terminal states whose output may hold embeddings."""
        return self in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED)


SERVICE_FINISHED_STATES = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.PARTIALLY_SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.EXPIRED,
    }
)
# JobService has Pause and Resume calls for model monitoring jobs only, none for batch
# prediction jobs, and python-aiplatform counts PAUSED among the complete states: a paused
# batch job would hold a submission back for good, so it ends there (and is cancelled)
TERMINAL_STATES = SERVICE_FINISHED_STATES | {JobState.PAUSED, JobState.GONE}


@dataclass(frozen=True)
class JobError:
    """Why a job failed: a status code and a message."""

    code: int | None
    message: str


@dataclass(frozen=True)
class JobStatus:
    """A batch job as the library sees it, parsed from whatever the service returned."""

    name: str
    state: JobState
    display_name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    model: str = ""
    input_uri: str = ""
    output_uri_prefix: str = ""
    output_directory: str | None = None  # gs:// folder, or bq:// table of the predictions
    total_count: int | None = None
    successful_count: int = 0
    failed_count: int = 0
    incomplete_count: int = 0
    create_time: datetime | None = None
    update_time: datetime | None = None
    error: JobError | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more."""
        return self.state.is_terminal

    @classmethod
    def from_rest(cls, job: Mapping[str, Any]) -> "JobStatus":
        """Parses a `batchPredictionJobs` resource as the REST API returns it (camelCase)."""
        stats = job.get("completionStats") or {}
        error = job.get("error")
        output = job.get("outputConfig") or {}
        inputs = job.get("inputConfig") or {}
        info = job.get("outputInfo") or {}
        return cls(
            name=job["name"],
            state=JobState.parse(job.get("state")),
            display_name=job.get("displayName", ""),
            labels=dict(job.get("labels") or {}),
            model=job.get("model", ""),
            input_uri=(
                ((inputs.get("gcsSource") or {}).get("uris") or [""])[0]
                or (inputs.get("bigquerySource") or {}).get("inputUri", "")
            ),
            output_uri_prefix=(
                (output.get("gcsDestination") or {}).get("outputUriPrefix")
                or (output.get("bigqueryDestination") or {}).get("outputUri", "")
            ),
            output_directory=_output_location(info),
            total_count=as_int(job["totalCount"]) if job.get("totalCount") else None,
            successful_count=as_int(stats.get("successfulCount")),
            failed_count=as_int(stats.get("failedCount")),
            incomplete_count=as_int(stats.get("incompleteCount")),
            create_time=parse_time(job.get("createTime")),
            update_time=parse_time(job.get("updateTime")),
            error=JobError(code=error.get("code"), message=error.get("message", ""))
            if error
            else None,
        )

    def describe(self) -> str:
        """One line for logs: name, state, counts and error."""
        counts = f"{self.successful_count} ok, {self.failed_count} failed"
        if self.total_count is not None:
            counts += f" of {self.total_count}"
        text = f"{self.display_name or self.name}: {self.state.value} ({counts})"
        if self.error is not None:
            text += f" error {self.error.code}: {self.error.message}"
        if self.state is JobState.PAUSED:
            text += (
                "; paused on Vertex AI, where a batch job cannot be resumed: cancelled so it "
                "bills no more, what it wrote is landed and its other texts are sent again"
            )
        return text

    @classmethod
    def gone(cls, name: str, *, output_uri_prefix: str = "") -> "JobStatus":
        """A job the service no longer has (404): final, with where its output would be."""
        return cls(
            name=name,
            state=JobState.GONE,
            output_uri_prefix=output_uri_prefix,
            error=JobError(
                code=5, message="the service no longer has this job (404 NOT_FOUND: deleted)"
            ),
        )


@dataclass(frozen=True)
class JobRequest:
    """What a backend needs to create one batch job for one request shard."""

    display_name: str
    model: str
    input_uri: str
    output_uri_prefix: str
    labels: Mapping[str, str]
    prompts: int
    output_dimensionality: int | None = None
    auto_truncate: bool = True


@runtime_checkable
class BatchBackend(Protocol):
    """Submits batch embedding jobs and reports on them.

    Implementations are Dagster resources; `LocalBatchBackend` and `VertexBatchBackend`.

    Attributes:
        cancel_superseded: cancel an earlier submission's unfinished job that holds no text a
            newer submission needs (jobs that do are adopted and waited for).
    """

    cancel_superseded: bool

    def staging(self) -> Storage:
        """Returns the storage where request shards, manifests and outputs are kept."""
        ...

    def validate_model(self, *, model: str, output_dimensionality: int | None) -> None:
        """Raises `ValueError` naming the field when the backend cannot serve the model."""
        ...

    def max_prompts_per_job(self, model: str) -> int:
        """Returns the most prompts one job of `model` may take."""
        ...

    def submit(self, request: JobRequest) -> JobStatus:
        """Creates a job and returns at once."""
        ...

    def find_jobs(self, labels: Mapping[str, str]) -> list[JobStatus]:
        """Returns the jobs carrying all of `labels` (used to re-attach on retries)."""
        ...

    def get(self, name: str) -> JobStatus:
        """Returns a job's current status."""
        ...

    def cancel(self, name: str) -> JobStatus:
        """Asks for a job to be cancelled and returns its status."""
        ...

    def output_files(self, job: JobStatus) -> list[str]:
        """Returns the URIs of every prediction file a finished job wrote."""
        ...

    def console_url(self, job: JobStatus) -> str | None:
        """Returns a link to the job for humans, if there is one."""
        ...


def calls_within(backend: BatchBackend, seconds: float) -> AbstractContextManager[None]:
    """Bounds the backend's calls in the block to `seconds`, where it bounds calls at all.

    A backend that talks to a service offers `calls_within(seconds)` (`VertexBatchBackend`);
    a local one has no call to bound.
    """
    bound = getattr(backend, "calls_within", None)
    return bound(seconds) if callable(bound) else nullcontext()


def _output_location(info: Mapping[str, Any]) -> str | None:
    """The folder of prediction files, or `bq://project.dataset.table` of the prediction table."""
    if info.get("gcsOutputDirectory"):
        return str(info["gcsOutputDirectory"])
    dataset, table = info.get("bigqueryOutputDataset"), info.get("bigqueryOutputTable")
    if dataset and table:
        prefix = "" if str(dataset).startswith("bq://") else "bq://"
        return f"{prefix}{dataset}.{table}"
    return None


def earliest(jobs: Sequence[JobStatus]) -> JobStatus:
    """The job created first (one without a create time counts as the newest)."""
    return min(jobs, key=lambda job: (job.create_time is None, job.create_time or _EPOCH))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_int(value: Any, default: int = 0) -> int:
    """Reads an int64 that may arrive as a JSON string."""
    if value is None or value == "":
        return default
    return int(value)


def parse_time(value: Any) -> datetime | None:
    """Reads an RFC 3339 timestamp (any number of fractional digits), or passes a datetime on."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text)
