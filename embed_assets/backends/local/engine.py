"""A batch job engine on one machine: job records on disk, one detached worker process per job.

Each job is a folder holding `job.json` (the record, in Vertex's REST shape, always replaced
atomically under a lock) and `worker.log`. The worker embeds the request file and writes
Vertex-shaped prediction files. A worker that died before finishing is noticed by the next
reader and the job is marked FAILED. The local backend and the Vertex emulator share this engine.

The engine knows nothing of faults: `embed_assets.testing` runs its own worker module (the
production worker with hooks installed) by passing `worker_module`.
"""

import fcntl
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from embed_assets.backends.base import JobState
from embed_assets.errors import JobNotFound
from embed_assets.staging.files import write_atomically

JobRecord = dict[str, Any]
WORKER_MODULE = "embed_assets.backends.local.worker"
ROWS_PER_OUTPUT_FILE = 10_000
WORKER_START_SECONDS = 5.0  # a worker due longer than this without starting was orphaned

_children: list[subprocess.Popen[bytes]] = []
_exit_statuses: dict[int, int] = {}  # pid -> return code of a worker this process started


def utc_now_rfc3339() -> str:
    """Returns the time now as RFC 3339 with microseconds, the way Vertex writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def input_config(uri: str) -> dict[str, Any]:
    """A job's `inputConfig`: a BigQuery table for `bq://`, else one JSONL file."""
    if uri.startswith("bq://"):
        return {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": uri}}
    return {"instancesFormat": "jsonl", "gcsSource": {"uris": [uri]}}


def output_config(uri: str) -> dict[str, Any]:
    """A job's `outputConfig`: BigQuery for `bq://`, else JSONL files below a prefix."""
    if uri.startswith("bq://"):
        return {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}
    return {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": uri}}


def _age_seconds(rfc3339: str) -> float:
    """Seconds since a timestamp this engine wrote."""
    then = datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - then).total_seconds()


def _reap_children() -> None:
    """Collects exit codes of finished workers so they do not linger as zombies."""
    for child in _children:
        if child.poll() is not None:
            _exit_statuses[child.pid] = child.returncode
    _children[:] = [child for child in _children if child.returncode is None]


def exit_description(pid: int) -> str:
    """How a worker this process started ended: `was killed by SIGKILL`, `exited with code 1`.

    A worker started by another process ended in a way this one cannot see: `exited`.
    """
    for child in _children:  # gone from /proc, it may take a moment to be reported exited
        if child.pid == pid:
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=2.0)
    _reap_children()
    status = _exit_statuses.get(pid)
    if status is None:
        return "exited"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with code {status}"


def log_tail(path: Path, *, limit: int = 300) -> str:
    """What a worker's log says of its end: a fatal error's report, else its last line, or ""."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 16384))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    last = fatal[-1] if fatal else next((line for line in reversed(lines) if line), "")
    return last[:limit]


def process_start_ticks(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # zombie or dead: the worker is gone
        return None
    return int(fields[19])


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Tells whether the process that started as (pid, start_ticks) is still running."""
    if Path("/proc").is_dir():
        ticks = process_start_ticks(pid)
        return ticks is not None and (start_ticks is None or ticks == start_ticks)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalJobEngine:
    """Creates, reads, lists and cancels job records under `root`.

    Args:
        root: folder holding one sub-folder per job.
        max_running_jobs: how many workers may embed at once; the rest wait in PENDING.
        name_prefix: prefix of job names (`jobs/` locally; a REST resource path for the emulator).
        slots_dir: folder of the running-job slot locks (default `<root>/.slots`); engines that
            share it share the running-job limit.
        env: environment variables added to the workers' environment.
        worker_module: the module run as `python -m <module> <job folder>` for each job.
        rows_per_output_file: prediction rows per output file; more are split over files.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        max_running_jobs: int = 1,
        name_prefix: str = "jobs/",
        slots_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        worker_module: str = WORKER_MODULE,
        rows_per_output_file: int = ROWS_PER_OUTPUT_FILE,
    ):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_running_jobs = max_running_jobs
        self.name_prefix = name_prefix
        self.slots_dir = Path(slots_dir).resolve() if slots_dir else self.root / ".slots"
        self.env = dict(env or {})
        self.worker_module = worker_module
        self.rows_per_output_file = rows_per_output_file

    # -- records -----------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        """Returns the folder of one job."""
        return self.root / job_id

    def job_id(self, name: str) -> str:
        """Returns the all-digit id at the end of a job name."""
        job_id = name.rsplit("/", 1)[-1]
        if not job_id.isdigit():
            raise JobNotFound(f"not a job name: {name!r}")
        return job_id

    @contextmanager
    def _locked(self, job_id: str) -> Iterator[None]:
        lock_path = self.job_dir(job_id) / ".lock"
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self, job_id: str) -> JobRecord:
        path = self.job_dir(job_id) / "job.json"
        try:
            return orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise JobNotFound(f"no job {job_id}") from None

    def _write(self, job_id: str, record: JobRecord) -> None:
        write_atomically(
            self.job_dir(job_id) / "job.json", orjson.dumps(record, option=orjson.OPT_INDENT_2)
        )

    def update(self, job_id: str, change: Callable[[JobRecord], None]) -> JobRecord:
        """Applies `change` to a record under the job's lock and writes it back atomically."""
        with self._locked(job_id):
            record = self._read(job_id)
            change(record)
            record["updateTime"] = utc_now_rfc3339()
            self._write(job_id, record)
            return record

    def create(
        self,
        *,
        display_name: str,
        model: str,
        input_uri: str,
        output_uri_prefix: str,
        labels: Mapping[str, str],
        model_parameters: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        start_worker: bool = True,
    ) -> JobRecord:
        """Records a new job in PENDING and starts its worker; returns at once.

        With `start_worker=False` the job waits in PENDING until `start_worker` is called
        (or is cancelled), as a job the service has queued.
        """
        job_id = str(int(datetime.now(UTC).timestamp() * 1000)) + str(
            secrets.randbelow(10**6)
        ).zfill(6)
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        now = utc_now_rfc3339()
        record: JobRecord = {
            "name": f"{self.name_prefix}{job_id}",
            "displayName": display_name,
            "model": model,
            "inputConfig": input_config(input_uri),
            "outputConfig": output_config(output_uri_prefix),
            "modelParameters": dict(model_parameters),
            "labels": dict(labels),
            "state": "JOB_STATE_PENDING",
            "createTime": now,
            "updateTime": now,
            "completionStats": {"successfulCount": "0", "failedCount": "0", "incompleteCount": "0"},
            "maxRunningJobs": self.max_running_jobs,
            "rowsPerOutputFile": self.rows_per_output_file,
            "slotsDir": str(self.slots_dir),
            # set when a worker is due: if its creator was killed before starting it, the
            # next reader starts it (after WORKER_START_SECONDS), as the service would run it
            **({"workerDue": now} if start_worker else {}),
            **dict(extra or {}),
        }
        with self._locked(job_id):
            self._write(job_id, record)
        if start_worker:
            self.start_worker(job_id)
        return self.get(job_id)

    def start_worker(self, job_id: str) -> None:
        """Starts the detached worker process of a PENDING job."""
        _reap_children()
        folder = self.job_dir(job_id)
        with open(folder / "worker.log", "ab") as log:
            child = subprocess.Popen(
                # -P: the working directory is not on sys.path, so no folder there shadows a module
                [sys.executable, "-P", "-m", self.worker_module, str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: the job outlives the run that submitted it
                close_fds=True,
                env={**os.environ, **self.env},
            )
        _children.append(child)
        ticks = process_start_ticks(child.pid)

        def note_pid(record: JobRecord) -> None:
            record["workerPid"] = child.pid
            record["workerStartTicks"] = ticks

        self.update(job_id, note_pid)

    def get(self, name_or_id: str) -> JobRecord:
        """Returns a job record, first marking it FAILED if its worker died unfinished.

        Raises:
            KeyError: there is no such job.
        """
        job_id = self.job_id(name_or_id)
        record = self._read(job_id)
        if JobState.parse(record["state"]).is_terminal:
            return record
        if "workerPid" not in record:
            if "workerDue" in record and _age_seconds(record["workerDue"]) > WORKER_START_SECONDS:
                self._start_orphan(job_id)
                return self._read(job_id)
            return record  # held in PENDING on purpose, or its worker is starting
        _reap_children()
        if process_alive(record["workerPid"], record.get("workerStartTicks")):
            return record
        return self.update(job_id, self._mark_dead_worker)

    def _start_orphan(self, job_id: str) -> None:
        """Starts the worker of a job whose creator stopped before starting it.

        The job was accepted, so it runs, as on the real service. Under the job's lock one
        reader claims the start (the due time moves on), so two readers never start two.
        """
        claimed = False

        def claim(record: JobRecord) -> None:
            nonlocal claimed
            due = record.get("workerDue")
            if "workerPid" in record or due is None or _age_seconds(due) <= WORKER_START_SECONDS:
                return
            record["workerDue"] = utc_now_rfc3339()
            claimed = True

        self.update(job_id, claim)
        if claimed:
            self.start_worker(job_id)

    def _mark_dead_worker(self, record: JobRecord) -> None:
        if JobState.parse(record["state"]).is_terminal:
            return  # it finished between our read and the lock
        pid = record["workerPid"]
        log = self.job_dir(self.job_id(record["name"])) / "worker.log"
        last = log_tail(log)
        record["state"] = "JOB_STATE_FAILED"
        record["endTime"] = utc_now_rfc3339()
        record["error"] = {
            "code": 13,
            "message": f"the worker process {pid} {exit_description(pid)} before the job "
            f"finished{f': {last}' if last else ''} (its log: {log})",
        }

    def list(self) -> list[JobRecord]:
        """Returns every job record, newest first."""
        ids = sorted(
            (p.name for p in self.root.iterdir() if p.name.isdigit() and (p / "job.json").exists()),
            reverse=True,
        )
        return [self.get(job_id) for job_id in ids]

    def cancel(self, name_or_id: str) -> JobRecord:
        """Asks a job to stop; a job with no live worker is cancelled at once."""
        job_id = self.job_id(name_or_id)
        record = self.get(job_id)
        if JobState.parse(record["state"]).is_terminal:
            return record

        def request_cancel(rec: JobRecord) -> None:
            if JobState.parse(rec["state"]).is_terminal:
                return
            rec["cancelRequested"] = True
            alive = "workerPid" in rec and process_alive(
                rec["workerPid"], rec.get("workerStartTicks")
            )
            rec["state"] = "JOB_STATE_CANCELLING" if alive else "JOB_STATE_CANCELLED"
            if not alive:
                rec["endTime"] = utc_now_rfc3339()

        return self.update(job_id, request_cancel)

    def delete(self, name_or_id: str) -> None:
        """Removes a finished job's record (its outputs stay where they were written)."""
        import shutil

        job_id = self.job_id(name_or_id)
        self.cancel(job_id)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
