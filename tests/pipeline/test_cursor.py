"""The sensor's cursor: a typed record that round-trips, and an unreadable one is logged."""

import logging

import pytest

from embed_assets.jobs.polling import PollResult
from embed_assets.pipeline.cursor import JobSensorCursor, SensorOutcome, read_cursor


def test_a_cursor_round_trips_through_dagsters_serializer() -> None:
    """States, resume point and outcome survive serialization."""
    cursor = JobSensorCursor(submission_id="s").with_poll(
        PollResult(states={"jobs/1": "RUNNING"}, resume_at=3)
    )
    cursor = cursor.with_outcome(SensorOutcome.REQUESTED)
    assert read_cursor(cursor.serialize()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"submission_id": "s", "states": {}, "outcome": null, "resume_at": 0}',
        '{"__class__": "JobSensorCursor", "states": 5}',
    ],
)
def test_an_unreadable_cursor_starts_afresh_with_a_warning(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An old hand-serialized cursor or a corrupt one is logged, then ignored."""
    with caplog.at_level(logging.WARNING):
        cursor = read_cursor(text, log=logging.getLogger("test"))
    assert cursor == JobSensorCursor()
    assert "Failed to interpret cursor" in caplog.text


def test_no_cursor_starts_afresh_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """The first tick has no cursor; that is not worth a warning."""
    with caplog.at_level(logging.WARNING):
        assert read_cursor(None, log=logging.getLogger("test")) == JobSensorCursor()
    assert caplog.text == ""
