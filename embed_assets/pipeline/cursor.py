"""The job sensor's cursor: a typed record, kept as plain JSON with a versioned marker.

Plain JSON, not Dagster's serdes (whose registration is not public API): the marker tells an
embed_assets cursor from anything else a sensor's cursor may hold, and a cursor of another
version, or a corrupt one, is logged and replaced by a fresh one.
"""

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import dagster as dg
import orjson

from embed_assets.errors import EmbedAssetsError
from embed_assets.jobs.polling import PollResult

CURSOR_MARKER = "embed_assets/job_sensor_cursor"  # its value is the format's version
CURSOR_VERSION = 1


class CursorUnreadable(EmbedAssetsError, ValueError):
    """A sensor cursor that is not an embed_assets cursor of this version."""


class SensorOutcome(Enum):
    """The sensor's final word on a submission; a submission with an outcome is not polled."""

    REQUESTED = "REQUESTED"  # every job finished: the landing run was requested
    FAILED = "FAILED"  # every job ended without output: nothing to land
    NOTHING_TO_LAND = "NOTHING_TO_LAND"  # the submission changed nothing
    ALREADY_LANDED = "ALREADY_LANDED"  # the embeddings asset already holds it

    def sentence(self, submission_id: str) -> str:
        """What the outcome means, as a person reads it in the sensor's tick history."""
        return {
            SensorOutcome.REQUESTED: f"submission {submission_id}: every job finished and its "
            "landing run was requested; nothing new to land",
            SensorOutcome.FAILED: f"submission {submission_id}: every job ended without output; "
            "the next refresh submits its texts again",
            SensorOutcome.NOTHING_TO_LAND: f"submission {submission_id} changed nothing; "
            "nothing new to land",
            SensorOutcome.ALREADY_LANDED: f"submission {submission_id} is already in the table; "
            "nothing new to land",
        }[self]


@dataclass(frozen=True)
class JobSensorCursor:
    """What the sensor remembers between ticks: one submission and its jobs' last states.

    Attributes:
        submission_id: the submission being followed.
        states: the last known state of each polled job, by job name.
        outcome: set once the sensor has decided; None while jobs are followed.
        resume_at: the job the next tick polls first (where the last one ran out of time).
        done: rows each unfinished job had processed at its last poll, by job name.
    """

    submission_id: str | None = None
    states: Mapping[str, str] = field(default_factory=dict)
    outcome: SensorOutcome | None = None
    resume_at: int = 0
    done: Mapping[str, int] = field(default_factory=dict)

    def with_poll(self, result: PollResult) -> "JobSensorCursor":
        """Returns the cursor after a round of polling."""
        return dataclasses.replace(
            self, states=dict(result.states), resume_at=result.resume_at, done=dict(result.done)
        )

    def with_outcome(self, outcome: SensorOutcome) -> "JobSensorCursor":
        """Returns the cursor with the sensor's final word on the submission."""
        return dataclasses.replace(self, outcome=outcome)

    def serialize(self) -> str:
        """Returns the cursor as a string for `SensorResult(cursor=...)`."""
        return orjson.dumps(
            {
                CURSOR_MARKER: CURSOR_VERSION,
                "submission_id": self.submission_id,
                "states": dict(self.states),
                "outcome": self.outcome.value if self.outcome else None,
                "resume_at": self.resume_at,
                "done": dict(self.done),
            }
        ).decode()

    @classmethod
    def parse(cls, text: str) -> "JobSensorCursor":
        """Reads `serialize`'s output.

        Raises:
            CursorUnreadable: the text is not such a cursor (orjson raises a ValueError too).
        """
        data: Any = orjson.loads(text)
        if not isinstance(data, dict) or data.get(CURSOR_MARKER) != CURSOR_VERSION:
            raise CursorUnreadable(f"not an {CURSOR_MARKER} cursor of version {CURSOR_VERSION}")
        states = data.get("states") or {}
        if not isinstance(states, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in states.items()
        ):
            raise CursorUnreadable("states is not a mapping of job names to states")
        submission_id, resume_at = data.get("submission_id"), data.get("resume_at", 0)
        if not isinstance(submission_id, str | None) or not isinstance(resume_at, int):
            raise CursorUnreadable("submission_id or resume_at has the wrong type")
        done = data.get("done") or {}  # absent from cursors written before it was kept
        if not isinstance(done, dict) or not all(isinstance(v, int) for v in done.values()):
            raise CursorUnreadable("done is not a mapping of job names to row counts")
        outcome = data.get("outcome")
        return cls(
            submission_id=submission_id,
            states=states,
            outcome=SensorOutcome(outcome) if outcome is not None else None,
            resume_at=resume_at,
            done=done,
        )


def read_cursor(
    text: str | None, *, log: logging.Logger | dg.DagsterLogManager | None = None
) -> JobSensorCursor:
    """Reads a serialized cursor; an empty one starts afresh, an unreadable one is logged first."""
    if not text:
        return JobSensorCursor()
    try:
        return JobSensorCursor.parse(text)
    except (ValueError, TypeError) as error:  # orjson's JSONDecodeError is a ValueError
        if log is not None:
            log.warning(f"Failed to interpret cursor {text[:200]!r} ({error}); starting afresh")
        return JobSensorCursor()
