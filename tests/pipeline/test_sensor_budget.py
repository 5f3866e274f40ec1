"""A tick polls each unfinished job at most once and resumes where the time budget stopped it."""

from collections import Counter

from embed_assets.backends.base import JobState, JobStatus
from embed_assets.jobs.polling import poll_jobs
from embed_assets.jobs.record import Submission, SubmittedJob
from embed_assets.pipeline.cursor import JobSensorCursor, read_cursor


class CountingBackend:
    """Answers `get` from a table of states and counts the calls (only what polling uses)."""

    def __init__(self, states: dict[str, JobState]) -> None:
        self.states = states
        self.gets: Counter[str] = Counter()

    def get(self, name: str) -> JobStatus:
        self.gets[name] += 1
        return JobStatus(name=name, state=self.states[name])


class StepClock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _submission(count: int) -> Submission:
    jobs = tuple(
        SubmittedJob(
            shard=i, name=f"job-{i}", display_name=f"job-{i}", input_uri="", prompts=1, characters=1
        )
        for i in range(count)
    )
    return Submission(
        submission_id="s",
        pipeline="docs",
        model="text-embedding-005",
        task_type=None,
        output_dimensionality=None,
        manifest_uri="",
        output_uri="",
        jobs=jobs,
        corpus_rows=count,
        accepted_rows=count,
        rejected_rows=0,
        prompts=count,
        characters=count,
        unchanged_rows=0,
        reused_rows=0,
        stale_rows=0,
    )


def test_a_tick_out_of_time_resumes_at_the_next_job_and_covers_every_job() -> None:
    submission = _submission(10)
    backend = CountingBackend({job.name: JobState.PENDING for job in submission.jobs})
    cursor = JobSensorCursor(submission_id="s")

    polled_per_tick = []
    for _ in range(3):
        clock = StepClock()
        before = sum(backend.gets.values())
        result = poll_jobs(
            backend=backend,  # type: ignore[arg-type]
            jobs=submission.jobs,
            states=cursor.states,
            resume_at=cursor.resume_at,
            deadline=4.5,
            clock=clock,
        )
        polled_per_tick.append(sum(backend.gets.values()) - before)
        cursor = read_cursor(cursor.with_poll(result).serialize())  # what the next tick reads

    assert polled_per_tick == [4, 4, 4]
    assert max(backend.gets.values()) <= 2
    assert set(backend.gets) == {job.name for job in submission.jobs}  # nobody starves
    assert cursor.resume_at == 2


def test_finished_jobs_are_not_polled_again() -> None:
    submission = _submission(4)
    backend = CountingBackend({job.name: JobState.SUCCEEDED for job in submission.jobs})
    backend.states["job-2"] = JobState.RUNNING
    cursor = JobSensorCursor(submission_id="s")

    def poll() -> None:
        nonlocal cursor
        result = poll_jobs(
            backend=backend,  # type: ignore[arg-type]
            jobs=submission.jobs,
            states=cursor.states,
            resume_at=cursor.resume_at,
            deadline=float("inf"),
        )
        cursor = cursor.with_poll(result)

    poll()
    assert sum(backend.gets.values()) == 4
    poll()

    assert sum(backend.gets.values()) == 5
    assert backend.gets["job-2"] == 2
