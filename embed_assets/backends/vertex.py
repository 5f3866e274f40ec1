"""`VertexBatchBackend`: Vertex AI batch prediction through google-genai; GCS or BigQuery staging.

Jobs are created, read, listed and cancelled with `client.batches`. With a `gs://` staging,
request shards and prediction files go through dagster-gcp's `GCSResource`; with a `bq://`
staging, each job reads a prompts table and writes a prediction table (legacy models only; the
service takes Gemini embedding jobs from Cloud Storage only). Job records are parsed from the raw
JSON the service returned (kept by an httpx response hook), not from the SDK's `BatchJob`: that
model drops `labels`, which re-attaching needs, and refuses an `error` whose `details` are
objects, which is what the service sends for failed jobs.
"""

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any, ClassVar

import dagster as dg
from dagster_gcp import GCSResource
from pydantic import Field, PrivateAttr

from embed_assets.backends.base import (
    BackendError,
    BackendUnavailable,
    JobRequest,
    JobStatus,
    earliest,
)
from embed_assets.backends.vertex_calls import CallBounds, CallPolicy, LastResponse, call_vertex
from embed_assets.bigquery.client import bigquery_client, is_bigquery_uri, parse_dataset_uri
from embed_assets.errors import ConfigError, JobNotFound
from embed_assets.models.catalog import known_models, model_spec
from embed_assets.models.regions import check_batch_region, serves
from embed_assets.predictions.lines import RequestSchema
from embed_assets.staging.base import Storage
from embed_assets.staging.bigquery_dataset import BigQueryStorage
from embed_assets.staging.files import GcsStorage, split_gs_uri

LIST_PAGE_SIZE = 100
# google-genai's multi-regional locations (`_api_client._MULTI_REGIONAL_LOCATIONS`, 1.72.0)
MULTI_REGIONAL_LOCATIONS = ("us", "eu")


def _errors_tables(predictions_uri: str) -> list[str]:
    """Where a BigQuery job may write its errors table, beside its prediction table.

    Into a dataset the service writes `predictions` and `errors` (or `predictions_<time>` and
    `errors_<time>`); beside a table named in full, `<table>_errors`.
    """
    dataset, _, table = predictions_uri.rpartition(".")
    names = [f"{table}_errors"]
    if table.startswith("predictions"):
        names.insert(0, "errors" + table.removeprefix("predictions"))
    return [f"{dataset}.{name}" for name in names]


class VertexBatchBackend(dg.ConfigurableResource):
    """Runs batch embedding jobs on Vertex AI batch prediction.

    Request shards are staged under `staging_uri`, one job per shard is created with
    google-genai, and each job writes its predictions below the submission's output prefix.
    With `staging_uri="bq://project.dataset"`, each shard is a prompts table and each job
    writes a prediction table in that dataset (`text-embedding-005` and
    `text-multilingual-embedding-002`; Vertex reads Gemini embedding jobs from Cloud Storage).

    Example:
        ```python
        backend = VertexBatchBackend(
            project="my-project",
            location="us-central1",
            staging_uri="gs://my-bucket/embed-assets",
        )
        ```
    """

    kind: ClassVar[str] = "vertexai"  # the Dagster kind of the assets it serves

    project: str = Field(description="Google Cloud project that runs the batch jobs.")
    location: str = Field(default="us-central1", description="Vertex AI region of the jobs.")
    staging_uri: str = Field(
        description="gs://bucket/prefix for request shards, manifests and prediction files, or "
        "bq://project.dataset for prompts, manifest and prediction tables (the dataset must "
        "exist; legacy models only)."
    )
    api_version: str = Field(default="v1", description="Vertex AI REST API version.")
    api_endpoint: str | None = Field(
        default=None,
        description="Base URL of the Vertex AI API, e.g. an emulator's http://127.0.0.1:PORT "
        "(default: the regional Google endpoint).",
    )
    access_token: str | None = Field(
        default=None,
        description="OAuth access token to send instead of Application Default Credentials "
        "(an emulator accepts any value).",
    )
    retry_attempts: int = Field(
        default=5, description="Attempts per API call on 408, 429 and 5xx answers (1: no retry)."
    )
    retry_initial_delay_seconds: float = Field(
        default=1.0, description="Delay before the first retry; it doubles on each attempt."
    )
    retry_max_delay_seconds: float = Field(default=60.0, description="Longest delay between tries.")
    timeout_seconds: float = Field(default=60.0, description="Timeout of one API call.")
    cancel_superseded: bool = Field(
        default=True,
        description="Cancel an earlier submission's unfinished job when a newer one needs none "
        "of its texts (jobs that hold needed texts are adopted and waited for).",
    )
    gcs: GCSResource | None = Field(
        default=None,
        description="Cloud Storage resource for staging (default: GCSResource(project=project)).",
    )

    _client: Any = PrivateAttr(default=None)
    _storage_client: Any = PrivateAttr(default=None)
    _bigquery: Any = PrivateAttr(default=None)
    _clients: ExitStack = PrivateAttr(default_factory=ExitStack)
    _last: LastResponse = PrivateAttr(default_factory=LastResponse)
    _bounds: CallBounds = PrivateAttr(default_factory=CallBounds)

    # -- clients -----------------------------------------------------------------------------

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Closes the clients the backend opened when Dagster tears the resource down."""
        self.close()

    def close(self) -> None:
        """Closes the google-genai, Cloud Storage and BigQuery clients; later calls reopen them."""
        self._clients.close()  # the BigQuery staging client
        for client in (self._client, self._storage_client):
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._client = self._storage_client = self._bigquery = None
        self._clients = ExitStack()

    def genai_client(self) -> Any:
        """Returns the google-genai client this backend calls (created once)."""
        if self._client is None:
            from google import genai
            from google.genai import types

            credentials = None
            if self.access_token:
                import google.oauth2.credentials

                credentials = google.oauth2.credentials.Credentials(token=self.access_token)
            options = types.HttpOptions(  # each call sets its timeout and retries (vertex_calls)
                api_version=self.api_version,
                timeout=int(self.timeout_seconds * 1000),
                client_args={"event_hooks": {"response": [self._last.hook]}},
            )
            if self.api_endpoint:
                options.base_url = self.api_endpoint
            self._client = genai.Client(
                vertexai=True,
                project=self.project,
                location=self.location,
                credentials=credentials,
                http_options=options,
            )
        return self._client

    def staging(self) -> Storage:
        """Returns the staging area: Cloud Storage, or a BigQuery dataset."""
        self._check_staging_uri()
        if is_bigquery_uri(self.staging_uri):
            if self._bigquery is None:
                project, _ = parse_dataset_uri(self.staging_uri)
                self._bigquery = self._clients.enter_context(bigquery_client(project=project))
            return BigQueryStorage(self.staging_uri, self._bigquery)
        if self._storage_client is None:
            resource = self.gcs or GCSResource(project=self.project)
            self._storage_client = resource.get_client()
        return GcsStorage(self.staging_uri, self._storage_client)

    def _check_staging_uri(self) -> None:
        try:
            if is_bigquery_uri(self.staging_uri):
                parse_dataset_uri(self.staging_uri.rstrip("/"))
            else:
                split_gs_uri(self.staging_uri)
        except ValueError:
            raise ConfigError(
                f"staging_uri={self.staging_uri!r}: VertexBatchBackend stages on Cloud Storage "
                "or BigQuery; use gs://bucket/prefix or bq://project.dataset"
            ) from None

    @property
    def endpoint(self) -> str:
        """The base URL the API calls go to, as google-genai chooses it for the location."""
        if self.api_endpoint:
            return self.api_endpoint
        if self.location == "global":
            return "https://aiplatform.googleapis.com"
        if self.location in MULTI_REGIONAL_LOCATIONS:
            return f"https://aiplatform.{self.location}.rep.googleapis.com"
        return f"https://{self.location}-aiplatform.googleapis.com"

    def calls_within(self, seconds: float) -> AbstractContextManager[None]:
        """Bounds every call made in the block to end within `seconds` from now.

        Each call's timeout and its retries are clipped to the time left, and no call starts
        once it is spent (`BackendUnavailable`): a sensor tick against an endpoint that never
        answers ends within its budget, and the next tick goes on.
        """
        return self._bounds.within(seconds)

    def _call(
        self, call: Callable[[Any], Any], what: str, *, retry: bool = True, job_call: bool = False
    ) -> dict[str, Any]:
        """Makes one SDK call with its own `HttpOptions` (`vertex_calls.call_vertex`)."""
        policy = CallPolicy(
            timeout_seconds=self.timeout_seconds,
            attempts=self.retry_attempts,
            initial_delay_seconds=self.retry_initial_delay_seconds,
            max_delay_seconds=self.retry_max_delay_seconds,
            endpoint=self.endpoint,
        )
        return call_vertex(
            call,
            what,
            policy=policy,
            bounds=self._bounds,
            last=self._last,
            retry=retry,
            job_call=job_call,
        )

    # -- the BatchBackend protocol -------------------------------------------------------------

    def validate_model(self, *, model: str, output_dimensionality: int | None) -> None:
        """Refuses local-only models, unknown models and unsupported dimensionalities."""
        self._check_staging_uri()
        spec = model_spec(model)
        if spec.local:
            served = ", ".join(s.name for s in known_models() if not s.local)
            raise ConfigError(f"model={model!r} is a local model; VertexBatchBackend runs {served}")
        spec.check_dimensionality(output_dimensionality)
        if is_bigquery_uri(self.staging_uri) and not spec.bigquery:
            readers = ", ".join(s.name for s in known_models() if s.bigquery and not s.local)
            raise ConfigError(
                f"staging_uri={self.staging_uri!r}: Vertex reads {model} batch jobs from Cloud "
                f"Storage only; use a gs:// staging_uri, or a model that reads BigQuery ({readers})"
            )
        check_batch_region(spec, self.location)
        self._check_staging_location()

    def _check_staging_location(self) -> None:
        """Refuses a staging bucket or dataset outside the jobs' region (and its multi-region)."""
        location = self.staging().location()
        if location is not None and not serves(self.location, location):
            kind = "dataset" if is_bigquery_uri(self.staging_uri) else "bucket"
            raise ConfigError(
                f"staging_uri={self.staging_uri!r}: the {kind} is in {location}, but the jobs run "
                f"in location={self.location!r}; Vertex reads and writes a job's data only in its "
                f"region or multi-region: use a {kind} there, or set location to match"
            )

    def max_prompts_per_job(self, model: str) -> int:
        """Returns the model's per-job limit (30,000 legacy; 1,000,000 Gemini)."""
        return model_spec(model).max_prompts_per_job

    def submit(self, request: JobRequest) -> JobStatus:
        """Creates one batch job, and never two: a create whose answer is lost is not resent.

        Vertex's create takes no request id, so a create that timed out or lost its connection
        may have made the job. Each create is sent once (the SDK's retry is off for it); after
        a lost answer the job is looked up by its labels, and created again only if it is not
        there. Labels, and the legacy models' `modelParameters`, travel in `extra_body`.

        Raises:
            BackendUnavailable: Vertex did not answer; no job with the shard's labels exists,
                or it could not be looked up (a retry of the run re-attaches to it).
            BackendError: Vertex refused the job.
        """
        from google.genai import types

        body: dict[str, Any] = {"labels": dict(request.labels)}
        if model_spec(request.model).schema is RequestSchema.LEGACY:
            # Gemini embedding reads these from each line's embed_content_config instead
            parameters: dict[str, Any] = {"autoTruncate": request.auto_truncate}
            if request.output_dimensionality:
                parameters["outputDimensionality"] = request.output_dimensionality
            body["modelParameters"] = parameters
        client = self.genai_client()

        def create(options: Any) -> Any:
            config = types.CreateBatchJobConfig(
                display_name=request.display_name,
                dest=request.output_uri_prefix,
                http_options=options.model_copy(update={"extra_body": body}),
            )
            return client.batches.create(model=request.model, src=request.input_uri, config=config)

        what = f"creating batch job {request.display_name}"
        for attempt in range(1, max(1, self.retry_attempts) + 1):
            try:
                return JobStatus.from_rest(self._call(create, what, retry=False))
            except BackendUnavailable as error:
                lost = error
            time.sleep(self._retry_delay(attempt))
            found = self.find_jobs(request.labels)  # did the lost create make the job?
            if found:
                return earliest(found)
        raise BackendUnavailable(
            f"{lost}; no job with its labels exists after {self.retry_attempts} attempts"
        )

    def _retry_delay(self, attempt: int) -> float:
        return min(
            self.retry_max_delay_seconds, self.retry_initial_delay_seconds * 2 ** (attempt - 1)
        )

    def find_jobs(self, labels: Mapping[str, str]) -> list[JobStatus]:
        """Lists the jobs carrying all of `labels`, every page."""
        from google.genai import types

        text = " AND ".join(f'labels.{k}="{v}"' for k, v in sorted(labels.items()))
        client = self.genai_client()
        jobs: list[JobStatus] = []
        token: str | None = None
        while True:

            def list_page(options: Any, after: str | None = token) -> Any:
                config = types.ListBatchJobsConfig(
                    filter=text, page_size=LIST_PAGE_SIZE, page_token=after, http_options=options
                )
                return client.batches.list(config=config)

            page = self._call(list_page, "listing batch jobs")
            jobs += [JobStatus.from_rest(job) for job in page.get("batchPredictionJobs", [])]
            token = page.get("nextPageToken")
            if not token:
                return [j for j in jobs if all(j.labels.get(k) == v for k, v in labels.items())]

    def get(self, name: str) -> JobStatus:
        """Returns a job's current status.

        Raises:
            JobNotFound: the service no longer has the job (404: it was deleted).
        """
        from google.genai import types

        client = self.genai_client()

        def read(options: Any) -> Any:
            return client.batches.get(
                name=name, config=types.GetBatchJobConfig(http_options=options)
            )

        return JobStatus.from_rest(self._call(read, f"reading batch job {name}", job_call=True))

    def cancel(self, name: str) -> JobStatus:
        """Asks Vertex to cancel a job; a job that already finished is left as it is."""
        from google.genai import types

        client = self.genai_client()

        def cancel(options: Any) -> Any:
            config = types.CancelBatchJobConfig(http_options=options)
            return client.batches.cancel(name=name, config=config)

        try:
            self._call(cancel, f"cancelling batch job {name}", job_call=True)
        except (BackendUnavailable, JobNotFound):
            raise
        except BackendError:
            status = self.get(name)
            if status.state.is_finished_on_the_service:
                return status  # it finished before the cancel arrived
            raise
        return self.get(name)

    def output_files(self, job: JobStatus) -> list[str]:
        """Returns every `*.jsonl` of the job's output folder, or its BigQuery output tables.

        The prediction table comes from the raw `outputInfo` (`bigqueryOutputDataset` and
        `bigqueryOutputTable`; google-genai's `BatchJob` drops the dataset), with the errors
        table beside it when there is one (failed rows and their reasons). A cancelled or
        expired job may have no `outputInfo` and still have written rows, which are paid
        for: then its output prefix is listed.
        """
        staging = self.staging()
        location = job.output_directory
        if not location:
            if not (job.is_terminal and job.output_uri_prefix):
                return []
            return staging.list_jsonl(job.output_uri_prefix)
        found = staging.list_jsonl(location)
        if is_bigquery_uri(location):
            found += [uri for uri in _errors_tables(location) if staging.exists(uri)]
        return found

    def console_url(self, job: JobStatus) -> str | None:
        """Returns the job's page in the Google Cloud console."""
        job_id = job.name.rsplit("/", 1)[-1]
        return (
            f"https://console.cloud.google.com/vertex-ai/locations/{self.location}/"
            f"batch-predictions/{job_id}?project={self.project}"
        )
