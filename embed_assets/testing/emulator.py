"""`VertexEmulator`: Vertex AI's `batchPredictionJobs` REST API on 127.0.0.1, for tests and users.

It serves create, list (with `filter` and paging), get, cancel and delete under
`/v1/projects/{project}/locations/{location}/batchPredictionJobs`, reads request files from and
writes prediction files to Cloud Storage through a real GCS emulator (fake-gcs-server, started
here unless a URL is given) or prompts and prediction tables in BigQuery through a BigQuery
emulator (`bigquery_url`, or `BIGQUERY_EMULATOR_HOST`), and runs each job with the local backend's job engine: a detached
worker, a per-project limit on running jobs, Vertex's states, shuffled output split over files.

The vectors are emulated: a local model's vector projected to the requested model's dimension
(see `embed_assets.models.projected`). They are not Google's embeddings.
"""

import shutil
import tempfile
import threading
import time
import zlib
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from embed_assets.backends.base import JobState
from embed_assets.backends.local.engine import JobRecord, LocalJobEngine
from embed_assets.bigquery.client import EMULATOR_VARIABLE as BIGQUERY_EMULATOR_VARIABLE
from embed_assets.errors import ConfigError
from embed_assets.models.catalog import SHIPPED, model_spec
from embed_assets.models.registry import LEXICAL_MODEL
from embed_assets.predictions.lines import RequestSchema
from embed_assets.testing.faults import STUCK_SECONDS, FaultPlan, JobFault
from embed_assets.testing.faulty_worker import FAULTY_WORKER_MODULE, write_job_faults
from embed_assets.testing.gcs import GcsEmulator, free_port
from embed_assets.testing.placement import check_placement
from embed_assets.testing.rest import (
    ApiError,
    check_labels,
    handler_for,
    input_uri,
    list_page,
    output_prefix,
    public_view,
)
from embed_assets.testing.server import LocalServer, LocalServerError

if TYPE_CHECKING:
    from embed_assets.backends.vertex import VertexBatchBackend

# the models shipped with the library that the emulator serves; a model declared with a
# `ModelSpec` in the emulator's process is served too
EMULATED_MODELS = tuple(spec.name for spec in SHIPPED if not spec.local)


def project_number(project: str) -> str:
    """Returns the 12-digit project number the emulator uses in resource names, as Vertex does."""
    return project if project.isdigit() else str(100_000_000_000 + zlib.crc32(project.encode()))


class VertexEmulator(LocalServer):
    """Emulates Vertex AI batch prediction for embedding models on 127.0.0.1.

    Example:
        ```python
        with VertexEmulator(buckets=["my-bucket"]) as emulator:
            backend = VertexBatchBackend(
                project="demo", location="us-central1", staging_uri="gs://my-bucket/embed",
                api_endpoint=emulator.endpoint, access_token="emulator",
            )
        ```

    Args:
        port: port of the REST API (default: a free one).
        gcs_url: URL of a running GCS emulator; by default fake-gcs-server is started.
        bigquery_url: URL of a running BigQuery emulator, for jobs with BigQuery input and output
            (default: `BIGQUERY_EMULATOR_HOST` in the workers' environment).
        buckets: buckets to create in the GCS emulator this class starts.
        workdir: folder for job records (default: a temporary folder, removed on stop).
        max_running_jobs: jobs per project that may run at once; the rest wait in PENDING.
        local_model: the local model whose vectors are projected (default: lexical-hash, fast).
        seconds_per_chunk: extra seconds per chunk of 512 rows, to make jobs take time.
        rows_per_file: rows per prediction file; more rows are split over several files.
        fault: what happens to every job unless a rule from `inject` applies.
        gcs_location: the location of the buckets of the GCS emulator this class starts.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        gcs_url: str | None = None,
        bigquery_url: str | None = None,
        buckets: tuple[str, ...] | list[str] = ("embed-assets",),
        workdir: str | Path | None = None,
        max_running_jobs: int = 4,
        local_model: str = LEXICAL_MODEL,
        seconds_per_chunk: float = 0.0,
        rows_per_file: int = 10_000,
        fault: JobFault | None = None,
        gcs_location: str = "US-CENTRAL1",
    ) -> None:
        self.port = port or free_port()
        self.max_running_jobs = max_running_jobs
        self.local_model = local_model
        self.seconds_per_chunk = seconds_per_chunk
        self.rows_per_file = rows_per_file
        self.faults = FaultPlan(default=fault or JobFault())
        self.calls: Counter[str] = Counter()
        self._buckets = tuple(buckets)
        self._gcs_location = gcs_location
        self._given_gcs_url = gcs_url
        self.bigquery_url = bigquery_url
        self._gcs: GcsEmulator | None = None
        self._workdir = Path(workdir) if workdir else None
        self._tempdir: str | None = None
        self._engines: dict[tuple[str, str], LocalJobEngine] = {}
        self._engines_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reopen: threading.Timer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The base URL for google-genai (`HttpOptions(base_url=...)`)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gcs_url(self) -> str:
        """The GCS emulator's URL, the value for `STORAGE_EMULATOR_HOST`."""
        if self._given_gcs_url:
            return self._given_gcs_url
        if self._gcs is None:
            raise LocalServerError("the emulator is not started")
        return self._gcs.url

    def start(self) -> Self:
        """Starts the GCS emulator (unless given) and the REST API; returns once both listen."""
        if self._workdir is None:
            self._tempdir = tempfile.mkdtemp(prefix="embed-assets-vertex-")
            self._workdir = Path(self._tempdir)
        # bind the REST port first: the GCS emulator picks a free port of its own, and could
        # otherwise be handed the one chosen for us before we bound it
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler_for(self))
        if not self._given_gcs_url:
            try:
                self._gcs = GcsEmulator(buckets=self._buckets, location=self._gcs_location).start()
            except BaseException:
                self._server.server_close()  # not serving yet: shutdown() would wait forever
                self._server = None
                self.stop()
                raise
        self._serve()
        return self

    def _serve(self) -> None:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vertex-emulator", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Blocks until the server is shut down (the CLI's foreground mode)."""
        while self._thread is not None:
            thread = self._thread
            thread.join()
            if thread is self._thread and self._reopen is None:
                return

    def refuse_connections(self, seconds: float) -> None:
        """Closes the API's port for `seconds` (connections are refused), then listens again.

        Jobs keep running meanwhile, as on the service during a network outage.
        """
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._reopen = threading.Timer(seconds, self._reopened)
        self._reopen.daemon = True
        self._reopen.start()

    def _reopened(self) -> None:
        self._reopen = None
        self._serve()

    def stop(self) -> None:
        """Cancels unfinished jobs, stops the servers and removes temporary data."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        for engine in list(self._engines.values()):
            for record in engine.list():
                if not JobState.parse(record["state"]).is_finished_on_the_service:
                    engine.cancel(record["name"])
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._gcs is not None:
            self._gcs.stop()
            self._gcs = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    # -- faults and inspection ---------------------------------------------------------------

    def delete_job(self, name: str) -> None:
        """Deletes a job whatever its state, as someone might in the console while it runs.

        Its worker is told to stop, its record goes, and its GET answers 404 from then on
        (the REST `delete` refuses an unfinished job, as Vertex's does).
        """
        for engine in list(self._engines.values()):
            if name.startswith(engine.name_prefix):
                engine.delete(name)

    def inject(
        self, fault: JobFault, *, count: int | None = 1, display_name_contains: str | None = None
    ) -> None:
        """Applies `fault` to the next `count` jobs created (None: all) whose name matches."""
        self.faults.add_job_fault(fault, count=count, display_name_contains=display_name_contains)

    def fail_next_calls(self, count: int, *, status: int = 429) -> None:
        """Answers the next `count` API calls with HTTP `status` (429 or 503, say)."""
        self.faults.fail_next_calls(count, status=status)

    def vertex_backend(
        self, *, staging_uri: str | None = None, project: str = "emulated-project", **options: Any
    ) -> "VertexBatchBackend":
        """Returns a `VertexBatchBackend` that talks to this emulator.

        `STORAGE_EMULATOR_HOST` must hold `gcs_url` in the process that uses it (dagster-gcp's
        `GCSResource` reads it). Retries wait 50 ms instead of a second.

        Args:
            staging_uri: gs:// staging prefix (default: `gs://<first bucket>/embed-assets`).
            project: the project name used in job names.
            **options: any other `VertexBatchBackend` field.
        """
        from embed_assets.backends.vertex import VertexBatchBackend

        settings: dict[str, Any] = {
            "location": "us-central1",
            "retry_initial_delay_seconds": 0.05,
            "retry_max_delay_seconds": 0.5,
            **options,
        }
        return VertexBatchBackend(
            project=project,
            staging_uri=staging_uri or f"gs://{self._buckets[0]}/embed-assets",
            api_endpoint=self.endpoint,
            access_token="emulator",
            **settings,
        )

    def jobs(self) -> list[JobRecord]:
        """Returns every job, as the REST API shows it."""
        return [public_view(r) for engine in self._engines.values() for r in engine.list()]

    def paid_prompts(self) -> int:
        """Counts the prompts jobs have read so far, as the service would bill them."""
        records = [r for engine in self._engines.values() for r in engine.list()]
        return sum(int(r.get("totalCount") or 0) for r in records)

    # -- the API -----------------------------------------------------------------------------

    def engine(self, project: str, location: str) -> LocalJobEngine:
        """Returns the job engine of one project and location."""
        number = project_number(project)
        with self._engines_lock:
            if (number, location) not in self._engines:
                if self._workdir is None:
                    raise LocalServerError("the Vertex emulator is not started")
                base = self._workdir / "projects" / number
                self._engines[(number, location)] = LocalJobEngine(
                    base / "locations" / location,
                    max_running_jobs=self.max_running_jobs,
                    name_prefix=f"projects/{number}/locations/{location}/batchPredictionJobs/",
                    slots_dir=base / ".slots",  # the running-job limit is per project
                    env=self._worker_env(),
                    worker_module=FAULTY_WORKER_MODULE,
                    rows_per_output_file=self.rows_per_file,
                )
            return self._engines[(number, location)]

    def _worker_env(self) -> dict[str, str]:
        env = {"STORAGE_EMULATOR_HOST": self.gcs_url, "HF_HUB_OFFLINE": "1"}
        if self.bigquery_url:
            env[BIGQUERY_EMULATOR_VARIABLE] = self.bigquery_url
        return env

    def create(self, engine: LocalJobEngine, body: dict[str, Any]) -> JobRecord:
        """Validates a create request and starts the job."""
        display_name = body.get("displayName")
        if not display_name:
            raise ApiError(400, "INVALID_ARGUMENT", "displayName is required")
        model = str(body.get("model", ""))
        name = model.rsplit("/", 1)[-1]
        try:
            spec = model_spec(name)
        except ConfigError:
            spec = None
        if spec is None or spec.local:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"The PublisherModel {model} does not exist (emulated: this emulator serves "
                f"{', '.join(EMULATED_MODELS)} and the models declared in its process).",
            )
        source = input_uri(body.get("inputConfig") or {})
        destination = output_prefix(body.get("outputConfig") or {})
        parameters = dict(body.get("modelParameters") or {})  # Gemini jobs do not read them
        dimensionality = parameters.get("outputDimensionality")
        try:
            if spec.schema is RequestSchema.LEGACY:
                spec.check_dimensionality(int(dimensionality) if dimensionality else None)
        except ValueError as error:
            raise ApiError(400, "INVALID_ARGUMENT", f"modelParameters: {error}") from None
        region = engine.name_prefix.split("/locations/", 1)[-1].split("/", 1)[0]
        check_placement(spec, region, [source, destination], self.gcs_url, self.bigquery_url)
        labels = dict(body.get("labels") or {})
        check_labels(labels)
        fault = self.faults.job_fault(display_name)
        worker_faults = fault.worker_faults()
        worker_faults["seconds_per_chunk"] = fault.seconds_per_chunk or self.seconds_per_chunk
        record = engine.create(
            display_name=display_name,
            model=model,
            input_uri=source,
            output_uri_prefix=destination,
            labels=labels,
            model_parameters=parameters,
            extra={
                "localModel": self.local_model,
                "emulation": {
                    "model": name,
                    "dimension": spec.dimension,
                    "maxInputTokens": spec.max_input_tokens,
                    # live gemini-embedding-001 jobs were seen writing `tokenCount`
                    "tokenField": "tokenCount"
                    if name == "gemini-embedding-001"
                    else "usageMetadata",
                },
                **(
                    {"queuedUntil": time.time() + fault.queued_seconds}
                    if fault.queued_seconds
                    else {}
                ),
                **(
                    {
                        "pausedFrom": time.time() + fault.queued_seconds,
                        "pausedUntil": time.time() + fault.queued_seconds + STUCK_SECONDS,
                    }
                    if fault.stuck_paused
                    else {}
                ),
            },
            start_worker=False,
        )
        job_id = engine.job_id(record["name"])
        write_job_faults(engine.job_dir(job_id), worker_faults)
        if not fault.stuck_pending:  # a job held in PENDING needs no process
            engine.start_worker(job_id)
        return public_view(engine.get(job_id))

    def list(self, engine: LocalJobEngine, query: dict[str, list[str]]) -> dict[str, Any]:
        """Lists jobs matching `filter`, one page at a time."""
        return list_page([public_view(r) for r in engine.list()], query)

    def get(self, engine: LocalJobEngine, job_id: str) -> JobRecord:
        """Returns one job."""
        try:
            return public_view(engine.get(job_id))
        except KeyError:
            raise ApiError(
                404, "NOT_FOUND", f"BatchPredictionJob {job_id} does not exist"
            ) from None

    def cancel(self, engine: LocalJobEngine, job_id: str) -> dict[str, Any]:
        """Asks a job to stop; a finished job cannot be cancelled."""
        record = self.get(engine, job_id)
        state = JobState.parse(record["state"])
        if state.is_finished_on_the_service:
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"BatchPredictionJob {job_id} is in state JOB_STATE_{state.value} and cannot "
                "be cancelled",
            )
        engine.cancel(job_id)
        return {}

    def delete(self, engine: LocalJobEngine, job_id: str) -> dict[str, Any]:
        """Deletes a job record; a job that has not finished cannot be deleted."""
        record = self.get(engine, job_id)
        state = JobState.parse(record["state"])
        if not state.is_finished_on_the_service:
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"BatchPredictionJob {job_id} is in state JOB_STATE_{state.value}; cancel it first",
            )
        engine.delete(job_id)
        return {
            "name": f"{record['name']}/operations/{job_id}",
            "done": True,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
        }
