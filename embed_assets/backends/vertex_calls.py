"""One google-genai call to Vertex AI: bounded in time, retried, and read as the service answered.

Every call is sent with its own `HttpOptions`: a timeout, and no retry of the SDK's (which
retries by version differently, read timeouts included in recent releases). Retries are made
here, on 408, 429 and 5xx answers and on network errors, with a doubling delay. Inside
`CallBounds.within(seconds)` (a sensor tick), a call's timeout and its retries are clipped to
the time left, and no call starts once it is spent: against an endpoint that accepts
connections and never answers, the tick ends on time.

The answer is the raw JSON the service returned (kept by an httpx response hook), not the
SDK's `BatchJob`: that model drops `labels` and refuses an `error` whose `details` are
objects, which is what the service sends for failed jobs.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic

from embed_assets.errors import BackendError, BackendUnavailable, JobNotFound

RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)
MIN_CALL_SECONDS = 0.5  # a call is not started with less time than this left


def transport_errors() -> tuple[type[BaseException], ...]:
    """What google-genai raises when the network fails.

    httpx's and httpx2's own exceptions (neither derives from `OSError`), google-auth's
    `TransportError` (a failed token refresh), and `OSError` itself.
    """
    found: list[type[BaseException]] = [OSError]
    for module in ("httpx", "httpx2"):
        try:
            found.append(__import__(module).HTTPError)
        except (ImportError, AttributeError):
            continue
    try:
        from google.auth.exceptions import TransportError

        found.append(TransportError)
    except ImportError:
        pass
    return tuple(found)


class LastResponse:
    """Keeps the body of the last HTTP response each thread received (an httpx event hook)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def hook(self, response: Any) -> None:
        """Reads and keeps the response's body."""
        response.read()
        self._local.body = response.content
        self._local.status = response.status_code

    def clear(self) -> None:
        """Forgets the last body of this thread."""
        self._local.body = b""
        self._local.status = 0

    def answered(self) -> bool:
        """True when this thread's last call got a successful answer with a body."""
        status = getattr(self._local, "status", 0)
        return 200 <= status < 300 and bool(getattr(self._local, "body", b""))

    def json(self) -> dict[str, Any]:
        """The last body of this thread, parsed ({} when there is none)."""
        body = getattr(self._local, "body", b"")
        data = orjson.loads(body) if body else {}
        return data if isinstance(data, dict) else {}


class CallBounds:
    """The time the calls of this thread must end by (a sensor tick's budget), if any."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Every call in the block ends within `seconds` from now (or an outer block's end)."""
        outer: float | None = getattr(self._local, "deadline", None)
        mine = time.monotonic() + seconds
        self._local.deadline = mine if outer is None else min(outer, mine)
        try:
            yield
        finally:
            self._local.deadline = outer

    def left(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        deadline: float | None = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline - time.monotonic()


@dataclass(frozen=True)
class CallPolicy:
    """How calls are timed and retried (the backend's settings).

    Attributes:
        timeout_seconds: the timeout of one attempt.
        attempts: attempts per call on 408, 429, 5xx and network errors.
        initial_delay_seconds: the delay before the first retry; it doubles each time.
        max_delay_seconds: the longest delay between attempts.
        endpoint: the base URL, for messages.
    """

    timeout_seconds: float
    attempts: int
    initial_delay_seconds: float
    max_delay_seconds: float
    endpoint: str

    def delay(self, attempt: int) -> float:
        """The delay after attempt `attempt` (1-based)."""
        return min(self.max_delay_seconds, self.initial_delay_seconds * 2 ** (attempt - 1))


def call_vertex(
    call: Callable[[Any], Any],
    what: str,
    *,
    policy: CallPolicy,
    bounds: CallBounds,
    last: LastResponse,
    retry: bool = True,
    job_call: bool = False,
) -> dict[str, Any]:
    """Makes one SDK call (`call(http_options)`) and returns the raw JSON the service answered.

    Args:
        call: makes the SDK call with the per-request `HttpOptions` it is given.
        what: what the call does, for messages (`reading batch job ...`).
        policy: timeout and retries.
        bounds: the deadline that clips them, if any.
        last: where the response hook keeps the answer.
        retry: retry on 408, 429, 5xx and network errors (a create is never resent here).
        job_call: the call names one job, so a 404 says the job is gone.

    Raises:
        JobNotFound: (`job_call`) the service has no such job.
        BackendUnavailable: no answer within the attempts or the time left.
        BackendError: the service refused the request.
    """
    attempts = max(1, policy.attempts) if retry else 1
    attempt = 1
    while True:
        options = _options(policy, bounds, what)
        try:
            return _call_once(call, options, what, policy=policy, last=last, job_call=job_call)
        except BackendUnavailable as error:
            left = bounds.left()
            delay = policy.delay(attempt)
            if attempt >= attempts:
                raise BackendUnavailable(f"{error} (after {attempts} attempts)") from error
            if left is not None and left < delay + MIN_CALL_SECONDS:
                raise BackendUnavailable(f"{error} (no time left to try again)") from error
            time.sleep(delay)
            attempt += 1


def _options(policy: CallPolicy, bounds: CallBounds, what: str) -> Any:
    from google.genai import types

    timeout = policy.timeout_seconds
    left = bounds.left()
    if left is not None:
        if left < MIN_CALL_SECONDS:
            raise BackendUnavailable(f"{what}: not sent, the time for it is spent")
        timeout = min(timeout, left)
    return types.HttpOptions(
        timeout=max(1, int(timeout * 1000)), retry_options=types.HttpRetryOptions(attempts=1)
    )


def _call_once(
    call: Callable[[Any], Any],
    options: Any,
    what: str,
    *,
    policy: CallPolicy,
    last: LastResponse,
    job_call: bool,
) -> dict[str, Any]:
    from google.genai import errors

    last.clear()
    try:
        call(options)
    except (pydantic.ValidationError, AttributeError, TypeError, KeyError, ValueError):
        # the SDK could not parse a good answer (an error's `details` objects: some versions
        # refuse them, some fail on them while pruning fields); it is read raw
        if not last.answered():
            raise
    except errors.APIError as error:
        text = f"{what}: HTTP {error.code} {error.status or ''} {error.message or ''}".strip()
        if job_call and error.code == 404:
            raise JobNotFound(text) from error
        if error.code in RETRY_STATUS_CODES:
            raise BackendUnavailable(text) from error
        raise BackendError(text) from error
    except transport_errors() as error:  # refused, reset, timed out
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise BackendUnavailable(
            f"{what}: Vertex AI at {policy.endpoint} is unreachable ({cause})"
        ) from error
    return last.json()
