"""Where the corpus asset keeps its prepared-corpus files, and finding them again.

The corpus asset writes its prepared rows (`corpus.prepared`) below the Dagster instance's
folder and outputs the small `PreparedCorpus` handle, so the IO manager never pickles the
rows. A pipeline keeps its newest few files: a batch job planning from the previous
materialization may still be reading it. When the batch job runs where the file is not (on
another machine), the corpus is prepared again there, and refused if it is no longer the
version the corpus asset recorded.
"""

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from embed_assets.corpus.prepared import PreparedCorpus
from embed_assets.errors import CorpusError

if TYPE_CHECKING:  # the pipeline builds these; they read it
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

PREPARED_FOLDER = Path("embed_assets") / "prepared"
# files a pipeline keeps: the newest one, and one a running batch job may still plan from
KEPT_FILES = 2


def prepare_into_instance(
    spec: "EmbeddingPipeline", root: str, *, upstream: pd.DataFrame | None = None
) -> PreparedCorpus:
    """Prepares the pipeline's corpus into a new file below the instance folder `root`.

    Older files of the pipeline beyond the newest `KEPT_FILES` are deleted.
    """
    folder = Path(root) / PREPARED_FOLDER / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"corpus-{uuid.uuid4().hex[:12]}.parquet"
    try:
        prepared = spec.prepare_file(path, upstream=upstream)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _keep_newest(folder)
    return prepared


def _keep_newest(folder: Path) -> None:
    files = sorted(folder.glob("corpus-*.parquet"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[KEPT_FILES:]:
        old.unlink(missing_ok=True)


def prepared_here(corpus: PreparedCorpus, spec: "EmbeddingPipeline", root: str) -> PreparedCorpus:
    """The prepared corpus, prepared again when its file is not on this machine.

    Raises:
        CorpusError: the source changed since the corpus asset ran (its version differs), or
            the corpus is an upstream asset's output (it cannot be read again here).
    """
    if os.path.exists(corpus.path):
        return corpus
    if isinstance(spec.corpus, dg.AssetKey):  # its rows came from the upstream asset's run
        raise CorpusError(
            f"the prepared corpus of pipeline {spec.name} ({corpus.path}) is not on this "
            f"machine, and its rows came from asset {spec.corpus.to_user_string()}: "
            "materialize the corpus and the batch job in one run"
        )
    again = prepare_into_instance(spec, root)
    if again.version != corpus.version:
        raise CorpusError(
            f"the corpus of pipeline {spec.name} changed since its corpus asset ran (the "
            f"prepared file {corpus.path} is not on this machine, and the source now has "
            f"version {again.version}, not {corpus.version}): materialize the corpus again"
        )
    return again
