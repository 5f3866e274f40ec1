"""Faults the Vertex emulator can inject: per job (how it ends) and per call (HTTP errors)."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from embed_assets.errors import ConfigError

FinalState = Literal["FAILED", "EXPIRED", "CANCELLED", "PARTIALLY_SUCCEEDED"]
LostAnswer = Literal["drop", "delay"]

_ERRORS: dict[str, dict[str, Any]] = {
    "FAILED": {
        "code": 13,
        "message": "Internal error occurred while running the batch prediction job (emulated).",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "INTERNAL_ERROR",
                "domain": "aiplatform.googleapis.com",
                "metadata": {"emulated": "true"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.DebugInfo",
                "detail": "injected by embed_assets.testing.VertexEmulator",
            },
        ],
    },
    "EXPIRED": {
        "code": 4,
        "message": "The batch prediction job did not start running within its time limit "
        "and expired (emulated).",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "JOB_EXPIRED",
                "domain": "aiplatform.googleapis.com",
            }
        ],
    },
    "CANCELLED": {"code": 1, "message": "The batch prediction job was cancelled (emulated)."},
}

STUCK_SECONDS = 10 * 365 * 24 * 3600.0  # "until it is cancelled": longer than any test
_HTTP_STATUS = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 500: "INTERNAL", 408: "UNKNOWN"}


@dataclass(frozen=True, kw_only=True)
class JobFault:
    """How an emulated job misbehaves.

    Attributes:
        final_state: end the job in this state instead of SUCCEEDED. FAILED and EXPIRED carry an
            `error` whose `details` are objects, as the service sends them.
        fail_every_nth_row: every Nth row fails with a non-empty per-row `status`; the job ends
            SUCCEEDED with those rows inline, as live jobs were seen to (PARTIALLY_SUCCEEDED
            with `final_state="PARTIALLY_SUCCEEDED"`, where it defaults to 5).
        stuck_pending: the job stays in PENDING until it is cancelled.
        queued_seconds: seconds the job shows JOB_STATE_QUEUED before PENDING (Gemini jobs
            may stay queued for hours).
        pending_seconds: seconds the job waits in PENDING before it may run.
        seconds_per_chunk: extra seconds per chunk of 512 rows while RUNNING.
        stuck_paused: the job shows JOB_STATE_PAUSED until it is cancelled (a batch job has no
            resume call).
        full_length_vectors: return the model's full-length vectors whatever dimensionality
            was asked (two public clients report this of Gemini batch jobs).
        errors_apart: failed rows of legacy jobs go to `errors_*` files (Cloud Storage) or an
            errors table with an `errors` STRUCT column (BigQuery), as the protos describe,
            instead of inline with a `status`.
        partial_output: with `final_state` FAILED, EXPIRED or CANCELLED, the job wrote half of
            its rows (paid for) before it stopped, and its record has no `outputInfo`.
        crash: the worker process aborts after its first chunk, as a crash in compiled code
            would end it (no Python error to catch).
    """

    final_state: FinalState | None = None
    fail_every_nth_row: int = 0
    stuck_pending: bool = False
    queued_seconds: float = 0.0
    pending_seconds: float = 0.0
    seconds_per_chunk: float = 0.0
    stuck_paused: bool = False
    full_length_vectors: bool = False
    errors_apart: bool = False
    partial_output: bool = False
    crash: bool = False

    def worker_faults(self) -> dict[str, Any]:
        """Returns the fault settings the job worker reads."""
        faults: dict[str, Any] = {
            "pending_seconds": self.queued_seconds
            + (STUCK_SECONDS if self.stuck_paused else 0.0)
            + self.pending_seconds,
            "seconds_per_chunk": self.seconds_per_chunk,
            "fail_every_nth_row": self.fail_every_nth_row
            or (5 if self.final_state == "PARTIALLY_SUCCEEDED" else 0),
            "failed_rows_end_succeeded": self.final_state != "PARTIALLY_SUCCEEDED",
            "full_length_vectors": self.full_length_vectors,
            "errors_apart": self.errors_apart,
            "partial_output": self.partial_output,
            "crash": self.crash,
        }
        if self.final_state in _ERRORS:
            faults["final_state"] = f"JOB_STATE_{self.final_state}"
            faults["error"] = _ERRORS[self.final_state]
        return faults

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobFault":
        """Reads a fault from the emulator's control API."""
        return cls(**data)


@dataclass
class _Rule:
    fault: JobFault
    remaining: int | None
    display_name_contains: str | None


@dataclass
class FaultPlan:
    """Which faults apply to the next jobs and calls; safe to use from many threads."""

    default: JobFault = field(default_factory=JobFault)
    _rules: list[_Rule] = field(default_factory=list)
    _failing_calls: int = 0
    _failing_status: int = 429
    _lost_answers: int = 0
    _lost_how: LostAnswer = "drop"
    _lost_seconds: float = 0.0
    _late_creates: int = 0
    _late_seconds: float = 0.0
    _stalled_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_job_fault(
        self, fault: JobFault, *, count: int | None = 1, display_name_contains: str | None = None
    ) -> None:
        """Applies `fault` to the next `count` created jobs (None: every job) that match."""
        with self._lock:
            self._rules.append(_Rule(fault, count, display_name_contains))

    def job_fault(self, display_name: str) -> JobFault:
        """Returns (and uses up) the fault for a job being created."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0:
                    continue
                if rule.display_name_contains and rule.display_name_contains not in display_name:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.fault
            return self.default

    def fail_next_calls(self, count: int, *, status: int = 429) -> None:
        """Answers the next `count` API calls with an HTTP error (429 or 503, say)."""
        if status not in _HTTP_STATUS:
            raise ConfigError(f"status={status}: choose one of {sorted(_HTTP_STATUS)}")
        with self._lock:
            self._failing_calls = count
            self._failing_status = status

    def call_failure(self) -> tuple[int, dict[str, Any]] | None:
        """Returns (status, error body) when this call must fail, using one failure up."""
        with self._lock:
            if self._failing_calls <= 0:
                return None
            self._failing_calls -= 1
            status = self._failing_status
        return status, {
            "error": {
                "code": status,
                "message": f"injected HTTP {status} (emulated)",
                "status": _HTTP_STATUS[status],
            }
        }

    def lose_create_answers(
        self, count: int, *, how: LostAnswer = "drop", seconds: float = 0.0
    ) -> None:
        """Makes the next `count` jobs, then loses the answer to their create call.

        `how="drop"` closes the connection without an answer; `how="delay"` answers after
        `seconds`, past the client's timeout. Either way the job exists on the service.
        """
        with self._lock:
            self._lost_answers, self._lost_how, self._lost_seconds = count, how, seconds

    def lost_answer(self) -> tuple[LostAnswer, float] | None:
        """Returns how to lose this create's answer, using one up; None: answer it."""
        with self._lock:
            if self._lost_answers <= 0:
                return None
            self._lost_answers -= 1
            return self._lost_how, self._lost_seconds

    def delay_creates(self, count: int, *, seconds: float) -> None:
        """Holds the next `count` create calls `seconds` before the job is made, then answers.

        A client that gave up meanwhile (and created again) ends with two jobs of one shard.
        """
        with self._lock:
            self._late_creates, self._late_seconds = count, seconds

    def create_delay(self) -> float:
        """Seconds to hold this create before making the job, using one up."""
        with self._lock:
            if self._late_creates <= 0:
                return 0.0
            self._late_creates -= 1
            return self._late_seconds

    def stall(self, seconds: float) -> None:
        """Holds every API call that arrives in the next `seconds` until they have passed."""
        with self._lock:
            self._stalled_until = time.monotonic() + seconds

    def end_stall(self) -> None:
        """Serves calls again from now on (calls held already are still held their time)."""
        with self._lock:
            self._stalled_until = 0.0

    def stall_remaining(self) -> float:
        """Seconds this call must wait before it is served (0 when not stalled)."""
        with self._lock:
            return max(0.0, self._stalled_until - time.monotonic())
