"""What the streaming readers' tests share: a pipeline, a batch-at-a-time preparation, and the
comparison with the rows prepared from the whole file."""

from pathlib import Path

import pandas as pd

from embed_assets import EmbeddingPipeline
from embed_assets.corpus.chunking import Chunking
from embed_assets.corpus.prepared import PreparedCorpus, write_prepared
from embed_assets.corpus.streams import prepare_in_batches
from tests.helpers import VERTEX_MODEL, assert_same_rows

CHUNKING = Chunking(max_tokens=300)
NBSP = "\u00a0"


def corpus_pipeline(corpus: str, chunking: Chunking | None) -> EmbeddingPipeline:
    """A pipeline of `corpus` with a title column, on the Vertex model."""
    return EmbeddingPipeline(
        name="docs", corpus=corpus, model=VERTEX_MODEL, title_column="title", chunking=chunking
    )


def prepare_streamed(
    pipeline: EmbeddingPipeline, path: Path | None, batch_rows: int, **kw: object
) -> PreparedCorpus:
    """Prepares `path` (or the `frame=` given, then in `folder=`) `batch_rows` at a time."""
    return prepare_in_batches(
        path,
        output=(path or Path(str(kw.pop("folder")))).with_name("streamed.parquet"),
        columns=pipeline.columns,
        source=pipeline.describe_source(),
        chunking=pipeline.chunking,
        model=pipeline.resolved_model,
        task_type=pipeline.task_type,
        output_dimensionality=pipeline.output_dimensionality,
        batch_rows=batch_rows,
        **kw,  # type: ignore[arg-type]
    )


def assert_same_as_whole(streamed: PreparedCorpus, whole: pd.DataFrame, folder: Path) -> None:
    """The streamed rows, version, counts and reasons equal those prepared from `whole`."""
    at_once = write_prepared(whole, folder / "at-once.parquet")
    assert_same_rows(streamed.read(), at_once.read())
    assert streamed.version == at_once.version
    assert streamed.rejected_by_reason == at_once.rejected_by_reason
    assert (streamed.rows, streamed.documents) == (at_once.rows, at_once.documents)
