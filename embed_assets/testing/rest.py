"""The emulator's HTTP face: Google's error shape, request checks, routing, the control API."""

import base64
import contextlib
import re
import socket
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson

from embed_assets.backends.local.engine import JobRecord, LocalJobEngine
from embed_assets.errors import EmbedAssetsError
from embed_assets.testing.faults import FaultPlan, JobFault
from embed_assets.testing.filters import FilterError, parse_filter

_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/batchPredictionJobs(?:/(?P<job>[^/:]+))?(?::(?P<verb>cancel))?$"
)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_INTERNAL_FIELDS = (
    "queuedUntil",
    "maxRunningJobs",
    "rowsPerOutputFile",
    "slotsDir",
    "workerPid",
    "workerStartTicks",
    "workerDue",
    "localModel",
    "emulation",
    "cancelRequested",
    "totalCount",
    "pausedFrom",
    "pausedUntil",
)


class ApiError(EmbedAssetsError):
    """An error answered in Google's JSON error shape."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict[str, Any]:
        """Returns the error body."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


DEFAULT_PAGE_SIZE = 100


def list_page(jobs: list[JobRecord], query: dict[str, list[str]]) -> dict[str, Any]:
    """One page of `batchPredictionJobs.list`: the jobs matching `filter`, from `pageToken`."""
    try:
        predicate = parse_filter((query.get("filter") or [""])[0])
    except FilterError as error:
        raise ApiError(400, "INVALID_ARGUMENT", f"filter: {error}") from None
    try:
        size = int((query.get("pageSize") or ["0"])[0]) or DEFAULT_PAGE_SIZE
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", "pageSize must be a number") from None
    token = (query.get("pageToken") or [""])[0]
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", "invalid pageToken") from None
    matching = [job for job in jobs if predicate(job)]
    page: dict[str, Any] = {}
    if matching[offset : offset + size]:
        page["batchPredictionJobs"] = matching[offset : offset + size]
    if offset + size < len(matching):
        page["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return page


_NOT_COUNTED = ("JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_CANCELLED")


def public_view(record: JobRecord, *, now: float | None = None) -> JobRecord:
    """Returns a job record as the REST API shows it, without the engine's own fields.

    As on the service: `modelVersionId` is always there; `labels` is left out when empty; a
    job still queued shows JOB_STATE_QUEUED; `completionStats` is left out until there is
    something to count (and on cancelled jobs), and so is each counter that is zero.
    """
    view = {k: v for k, v in record.items() if k not in _INTERNAL_FIELDS}
    view["modelVersionId"] = "1"
    if not view.get("labels"):
        view.pop("labels", None)
    queued_until = record.get("queuedUntil")
    if (
        view.get("state") == "JOB_STATE_PENDING"
        and queued_until is not None
        and (time.time() if now is None else now) < float(queued_until)
    ):
        view["state"] = "JOB_STATE_QUEUED"
    counters = {
        key: value
        for key, value in (view.pop("completionStats", None) or {}).items()
        if str(value) not in ("0", "")
    }
    paused_from, paused_until = record.get("pausedFrom"), record.get("pausedUntil")
    if (
        paused_until is not None
        and view.get("state") in ("JOB_STATE_PENDING", "JOB_STATE_QUEUED")
        and float(paused_from or 0) <= (time.time() if now is None else now) < float(paused_until)
    ):
        view["state"] = "JOB_STATE_PAUSED"
    if counters and view.get("state") not in _NOT_COUNTED:
        view["completionStats"] = counters
    return view


class EmulatedService(Protocol):
    """What the HTTP handler needs of the emulator."""

    calls: Counter[str]
    faults: FaultPlan

    def engine(self, project: str, location: str) -> LocalJobEngine: ...  # noqa: D102
    def create(self, engine: LocalJobEngine, body: dict[str, Any]) -> JobRecord: ...  # noqa: D102
    def list(self, engine: LocalJobEngine, query: dict[str, list[str]]) -> dict[str, Any]: ...  # noqa: D102
    def get(self, engine: LocalJobEngine, job_id: str) -> JobRecord: ...  # noqa: D102
    def cancel(self, engine: LocalJobEngine, job_id: str) -> dict[str, Any]: ...  # noqa: D102
    def delete(self, engine: LocalJobEngine, job_id: str) -> dict[str, Any]: ...  # noqa: D102
    def inject(  # noqa: D102
        self, fault: JobFault, *, count: int | None = 1, display_name_contains: str | None = None
    ) -> None: ...
    def fail_next_calls(self, count: int, *, status: int = 429) -> None: ...  # noqa: D102


def input_uri(config: dict[str, Any]) -> str:
    """Returns the one gs:// request file, or the bq:// prompts table, of an `inputConfig`."""
    if config.get("instancesFormat") == "bigquery":
        uri = str((config.get("bigquerySource") or {}).get("inputUri", ""))
        if uri.removeprefix("bq://").count(".") != 2 or not uri.startswith("bq://"):
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "inputConfig.bigquerySource.inputUri must be bq://project.dataset.table",
            )
        return uri
    if config.get("instancesFormat") != "jsonl":
        raise ApiError(
            400, "INVALID_ARGUMENT", "inputConfig.instancesFormat must be jsonl or bigquery"
        )
    uris = (config.get("gcsSource") or {}).get("uris") or []
    if len(uris) != 1 or not str(uris[0]).startswith("gs://"):
        raise ApiError(
            400, "INVALID_ARGUMENT", "inputConfig.gcsSource.uris must hold one gs:// URI"
        )
    return str(uris[0])


def output_prefix(config: dict[str, Any]) -> str:
    """Returns the gs:// output prefix, or the bq:// destination, of an `outputConfig`."""
    if config.get("predictionsFormat") == "bigquery":
        uri = str((config.get("bigqueryDestination") or {}).get("outputUri", ""))
        if not uri.startswith("bq://") or uri.removeprefix("bq://").count(".") > 2:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "outputConfig.bigqueryDestination.outputUri must be bq://project[.dataset[.table]]",
            )
        return uri
    if config.get("predictionsFormat") != "jsonl":
        raise ApiError(
            400, "INVALID_ARGUMENT", "outputConfig.predictionsFormat must be jsonl or bigquery"
        )
    prefix = str((config.get("gcsDestination") or {}).get("outputUriPrefix", ""))
    if not prefix.startswith("gs://"):
        raise ApiError(
            400, "INVALID_ARGUMENT", "outputConfig.gcsDestination.outputUriPrefix must be gs://"
        )
    return prefix


def check_labels(labels: dict[str, Any]) -> None:
    """Refuses labels Vertex would refuse (count, characters, length)."""
    if len(labels) > 64:
        raise ApiError(400, "INVALID_ARGUMENT", "at most 64 labels are allowed")
    for key, value in labels.items():
        if not _LABEL_KEY.match(str(key)) or not _LABEL_VALUE.match(str(value)):
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                f"label {key}={value!r}: keys and values are lowercase letters, digits, "
                "'-' and '_', at most 63 characters",
            )


def handler_for(emulator: EmulatedService) -> type[BaseHTTPRequestHandler]:
    """Returns the HTTP handler class that serves `emulator`'s REST and control paths."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
            pass  # quiet: tests and the CLI print what matters

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                data = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                raise ApiError(400, "INVALID_ARGUMENT", "the request body is not JSON") from None
            if not isinstance(data, dict):
                raise ApiError(400, "INVALID_ARGUMENT", "the request body must be an object")
            return data

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            body = self._body() if method in ("POST", "PATCH") else {}
            try:
                if url.path.startswith("/emulator/"):
                    self._send(200, _control(emulator, method, url.path, body))
                    return
                match = _PATH.match(url.path)
                if match is None:
                    raise ApiError(404, "NOT_FOUND", f"no such path {url.path}")
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    raise ApiError(401, "UNAUTHENTICATED", "missing bearer token")
                operation = _operation(method, match.group("job"), match.group("verb"))
                emulator.calls[operation] += 1
                time.sleep(emulator.faults.stall_remaining())
                failure = emulator.faults.call_failure()
                if failure is not None:
                    self._send(*failure)
                    return
                engine = emulator.engine(match.group("project"), match.group("location"))
                if operation == "create":
                    time.sleep(emulator.faults.create_delay())
                    result = emulator.create(engine, body)
                    if _lose_answer(self, emulator.faults):
                        return
                else:
                    result = _answer(emulator, engine, operation, match.group("job"), url.query)
                self._send(200, result)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a delayed answer)
            except ApiError as error:
                self._send(error.code, error.body())
            except Exception as error:  # a bug here must reach the client, not hang it
                self._send(500, ApiError(500, "INTERNAL", f"emulator error: {error}").body())

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _answer(
    emulator: EmulatedService, engine: LocalJobEngine, operation: str, job: str | None, query: str
) -> dict[str, Any]:
    """Serves list, get, cancel and delete."""
    if operation == "list":
        return emulator.list(engine, parse_qs(query))
    if operation == "get" and job:
        return emulator.get(engine, job)
    if operation == "cancel" and job:
        return emulator.cancel(engine, job)
    if operation == "delete" and job:
        return emulator.delete(engine, job)
    raise ApiError(405, "UNIMPLEMENTED", f"{operation} is not supported here")


def _lose_answer(handler: BaseHTTPRequestHandler, faults: FaultPlan) -> bool:
    """Applies a lost-answer fault to a create the service has done; True: nothing is sent."""
    lost = faults.lost_answer()
    if lost is None:
        return False
    how, seconds = lost
    if how == "delay":
        time.sleep(seconds)
        return False  # answered late: the client has given up by now
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
    return True


def _operation(method: str, job: str | None, verb: str | None) -> str:
    if verb == "cancel":
        return "cancel"
    if job is None:
        return {"POST": "create", "GET": "list"}.get(method, "unsupported")
    return {"GET": "get", "DELETE": "delete"}.get(method, "unsupported")


def _control(
    emulator: EmulatedService, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The emulator's own control API, for users driving `embed-assets emulator` from outside."""
    if method == "POST" and path == "/emulator/job-faults":
        emulator.inject(
            JobFault.from_json(dict(body.get("fault") or {})),
            count=body.get("count", 1),
            display_name_contains=body.get("display_name_contains"),
        )
        return {}
    if method == "POST" and path == "/emulator/call-faults":
        try:
            emulator.fail_next_calls(int(body.get("count", 1)), status=int(body.get("status", 429)))
        except ValueError as error:
            raise ApiError(400, "INVALID_ARGUMENT", str(error)) from None
        return {}
    if method == "GET" and path == "/emulator/calls":
        return dict(emulator.calls)
    raise ApiError(404, "NOT_FOUND", f"no such control path {path}")
