"""The job sensor's cursor: a typed record serialized with Dagster's own serializer."""

import logging
from collections.abc import Mapping
from enum import Enum

import dagster as dg
from dagster_shared.record import copy, record
from dagster_shared.serdes import whitelist_for_serdes

from embed_assets.jobs.polling import PollResult


@whitelist_for_serdes
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


@whitelist_for_serdes
@record
class JobSensorCursor:
    """What the sensor remembers between ticks: one submission and its jobs' last states.

    Attributes:
        submission_id: the submission being followed.
        states: the last known state of each polled job, by job name.
        outcome: set once the sensor has decided; None while jobs are followed.
        resume_at: the job the next tick polls first (where the last one ran out of time).
    """

    submission_id: str | None = None
    states: Mapping[str, str] = {}
    outcome: SensorOutcome | None = None
    resume_at: int = 0

    def with_poll(self, result: PollResult) -> "JobSensorCursor":
        """Returns the cursor after a round of polling."""
        return copy(self, states=dict(result.states), resume_at=result.resume_at)

    def with_outcome(self, outcome: SensorOutcome) -> "JobSensorCursor":
        """Returns the cursor with the sensor's final word on the submission."""
        return copy(self, outcome=outcome)

    def serialize(self) -> str:
        """Returns the cursor as a string for `SensorResult(cursor=...)`."""
        return dg.serialize_value(self)


def read_cursor(
    text: str | None, *, log: logging.Logger | dg.DagsterLogManager | None = None
) -> JobSensorCursor:
    """Reads a serialized cursor; an empty one starts afresh, an unreadable one is logged first."""
    if not text:
        return JobSensorCursor()
    try:
        return dg.deserialize_value(text, JobSensorCursor)
    except Exception as error:  # JSON, serdes and field checks each raise their own kind
        if log is not None:
            log.warning(f"Failed to interpret cursor {text[:200]!r} ({error}); starting afresh")
        return JobSensorCursor()
