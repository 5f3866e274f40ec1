"""Every exception the library raises, by cause, under one base: `EmbedAssetsError`.

Catch `EmbedAssetsError` for anything the library refuses or could not do; catch a subclass
for one cause. Each message is one line that names the cause and, where there is one, the
setting or flag that changes the outcome. The older built-in bases (`ValueError` for what a
user gave, `RuntimeError` for what happened) are kept as second bases, so code written
against them still catches the same errors.

Inside Dagster, `to_failure` turns any of them into a `dg.Failure` with that one line, so
the UI shows the cause and not a traceback (the traceback stays in the run's logs).
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Dagster is imported where a failure is made, not by every user of errors
    import dagster as dg


class EmbedAssetsError(Exception):
    """The base of every exception embed_assets raises."""


class ConfigError(EmbedAssetsError, ValueError):
    """A setting is wrong (a name, a model, a dimensionality, a URI); the message names it."""


class CorpusError(EmbedAssetsError, ValueError):
    """The corpus cannot be read or lacks a column; the message names the source."""


class RefreshRefused(EmbedAssetsError, ValueError):
    """The refresh would lose data; nothing was submitted or deleted. The message says why."""


class OverBudget(RefreshRefused):
    """The refresh would spend more than the pipeline allows; nothing was submitted.

    Attributes:
        estimate: what the refresh would have paid for (a `jobs.guard.SpendEstimate`).
    """

    def __init__(self, message: str, *, estimate: object) -> None:
        super().__init__(message)
        self.estimate = estimate


class BackendError(EmbedAssetsError, RuntimeError):
    """The batch service refused a request; the message says why."""


class BackendUnavailable(BackendError):
    """The batch service did not answer (after retries); try again later."""


class JobNotFound(BackendError, KeyError):
    """The batch service has no job of that name (it was deleted, or never existed)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(EmbedAssetsError, RuntimeError):
    """The embedding table cannot take this change; the message says why."""


class TableOwnedError(StoreError, ValueError):
    """The table a pipeline maps to belongs to another pipeline; the message names both."""


class Busy(EmbedAssetsError, RuntimeError):
    """Another refresh or process holds what this one needs; the message names the holder."""


class SubmissionError(EmbedAssetsError, RuntimeError):
    """A submission cannot be landed now (its jobs run, or the pipeline changed since)."""


class SubmissionNotFinished(SubmissionError):
    """Some jobs of the submission are still running; the message names them."""


class SubmissionSuperseded(SubmissionError):
    """The table now holds other vectors than the submission made: its output is not landed."""


class RefreshInProgress(Busy):
    """Another process is refreshing the pipeline; the message names it."""


class StoreBusy(Busy, StoreError):
    """Another process kept the database file locked for too long; the message names it."""


class PipelineRunError(EmbedAssetsError, RuntimeError):
    """A step of a headless run (`embed-assets run`) failed; the message says which and why."""


class PredictionError(EmbedAssetsError, ValueError):
    """A prediction file or table cannot be read; the message names the line or row."""


class StagedObjectMissing(EmbedAssetsError, FileNotFoundError):
    """A staged file, folder or table is not there; the message names it."""


class MissingExtra(ConfigError, ImportError):
    """A feature needs an optional extra that is not installed; the message says which."""


def to_failure(
    error: EmbedAssetsError, *, hint: str = "", metadata: Mapping[str, Any] | None = None
) -> "dg.Failure":
    """The `dg.Failure` a run ends with for `error`: its one line (and `hint`), no traceback.

    Args:
        error: what the library raised.
        hint: a sentence added after the cause (e.g. what a retry does).
        metadata: more entries shown with the failure (e.g. a refused refresh's estimate).
    """
    import dagster as dg

    text = str(error) if not hint else f"{error}. {hint}"
    return dg.Failure(
        description=text,
        metadata={
            "embed_assets/error": dg.MetadataValue.text(type(error).__name__),
            **(metadata or {}),
        },
    )
