"""What a pipeline asks of every submission, and what a table holds under it."""

from dataclasses import dataclass
from typing import Protocol

from embed_assets.models.catalog import vector_dimension
from embed_assets.store.base import TableIdentity


class EmbeddingTarget(Protocol):
    """What reading predictions needs to know: whose table, and how hashes were made."""

    @property
    def pipeline(self) -> str: ...  # noqa: D102

    @property
    def model(self) -> str: ...  # noqa: D102

    @property
    def task_type(self) -> str | None: ...  # noqa: D102

    @property
    def output_dimensionality(self) -> int | None: ...  # noqa: D102

    @property
    def chunked(self) -> bool: ...  # noqa: D102


@dataclass(frozen=True, kw_only=True)
class SubmissionSettings:
    """What a pipeline asks of every submission.

    Attributes:
        pipeline: the pipeline's name.
        model: the embedding model.
        task_type: sent with every prompt.
        output_dimensionality: requested vector length (None: the model's own).
        auto_truncate: let the model cut long inputs.
        max_prompts_per_job: prompts per job (None: the backend's per-job limit).
        keep_staging: keep request and prediction files after landing (for debugging).
        chunked: the rows are chunks of documents.
    """

    pipeline: str
    model: str
    task_type: str | None
    output_dimensionality: int | None
    auto_truncate: bool = True
    max_prompts_per_job: int | None = None
    keep_staging: bool = False
    chunked: bool = False

    @property
    def identity(self) -> TableIdentity:
        """What the pipeline's table holds under these settings."""
        return table_identity(self)


def table_identity(target: EmbeddingTarget) -> TableIdentity:
    """What a table holds when written with a submission's (or the settings') vectors."""
    return TableIdentity(
        pipeline=target.pipeline,
        model=target.model,
        dimension=vector_dimension(target.model, target.output_dimensionality),
        task_type=target.task_type,
        chunked=target.chunked,
    )


def same_model(one: str, other: str) -> bool:
    """True when two model names are the same model (`publishers/google/models/x` is `x`)."""
    return one.rsplit("/", 1)[-1] == other.rsplit("/", 1)[-1]
