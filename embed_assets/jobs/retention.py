"""Staging retention: once a job's output is landed, its request and prediction files go.

The manifest of each submission stays (it is small and says what was planned). A pipeline
with `keep_staging=True` keeps everything, for debugging.
"""

from collections.abc import Callable, Sequence

from embed_assets.backends.base import BatchBackend, JobStatus


def discard_staged_files(
    *,
    backend: BatchBackend,
    jobs: Sequence[JobStatus],
    folders: Sequence[str] = (),
    log: Callable[[str], None],
) -> int:
    """Deletes the request files and output folders of consumed jobs; returns files deleted.

    A file that cannot be deleted is logged and left: cleaning up never fails a refresh.

    Args:
        backend: where the jobs ran (its staging holds their files).
        jobs: jobs whose output has been landed (or was of no use).
        folders: more staging folders to delete (a submission's output folder).
        log: where a line about what was deleted (or not) goes.
    """
    staging = backend.staging()
    targets = [job.input_uri for job in jobs if job.input_uri]
    targets += [job.output_directory for job in jobs if job.output_directory]
    targets += list(folders)
    deleted = 0
    for uri in dict.fromkeys(targets):  # each once, in order
        try:
            deleted += staging.delete(uri)
        except OSError as error:
            log(f"could not delete staged {uri}: {error}")
    if deleted:
        log(f"deleted {deleted} staged request and prediction files")
    return deleted
