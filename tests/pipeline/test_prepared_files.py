"""The corpus asset's prepared files: kept below the instance, found again, prepared again.

A batch job that runs where the corpus asset's file is not (another machine) prepares the
corpus again and goes on only if it is still the version the corpus asset recorded.
"""

import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embed_assets import EmbeddingPipeline
from embed_assets.errors import CorpusError
from embed_assets.pipeline.prepared_files import (
    KEPT_FILES,
    PREPARED_FOLDER,
    prepare_into_instance,
    prepared_here,
)
from tests.helpers import VERTEX_MODEL, make_corpus

pytestmark = pytest.mark.timeout(60)


def _pipeline(tmp_path: Path, rows: int = 20) -> EmbeddingPipeline:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pandas(make_corpus(rows), preserve_index=False), path)
    return EmbeddingPipeline(name="docs", corpus=str(path), model=VERTEX_MODEL)


def test_a_prepared_file_that_is_gone_is_prepared_again_from_the_same_source(
    tmp_path: Path,
) -> None:
    home = str(tmp_path / "home")
    pipeline = _pipeline(tmp_path)
    first = prepare_into_instance(pipeline, home)
    assert Path(first.path).is_relative_to(Path(home) / PREPARED_FOLDER / "docs")
    assert prepared_here(first, pipeline, home) is first  # here: used as it is
    Path(first.path).unlink()  # the corpus asset ran on another machine
    again = prepared_here(first, pipeline, home)
    assert again.version == first.version
    assert sorted(again.read()["id"]) == sorted(make_corpus(20)["id"])


def test_a_source_changed_since_the_corpus_asset_ran_is_refused(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    first = prepare_into_instance(_pipeline(tmp_path), home)
    Path(first.path).unlink()
    changed = _pipeline(tmp_path, rows=21)  # one more document in the same file
    with pytest.raises(CorpusError, match=r"changed since its corpus asset ran") as raised:
        prepared_here(first, changed, home)
    assert "\n" not in str(raised.value)


def test_a_pipeline_keeps_its_newest_files(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    pipeline = _pipeline(tmp_path)
    made = []
    for age in range(4):
        prepared = prepare_into_instance(pipeline, home)
        made.append(Path(prepared.path))
        os.utime(prepared.path, (1_000_000 + age, 1_000_000 + age))  # in the order written
    kept = sorted((Path(home) / PREPARED_FOLDER / "docs").glob("corpus-*.parquet"))
    assert kept == sorted(made[-KEPT_FILES:])


def test_an_upstream_assets_corpus_that_is_not_here_names_the_way_out(tmp_path: Path) -> None:
    """Rows from an upstream asset cannot be read again here: the message says what to run."""
    home = str(tmp_path / "home")
    upstream = EmbeddingPipeline(name="docs", corpus=dg.AssetKey("raw_docs"), model=VERTEX_MODEL)
    first = prepare_into_instance(upstream, home, upstream=make_corpus(5))
    assert first.rows == 5
    Path(first.path).unlink()
    with pytest.raises(CorpusError, match=r"asset raw_docs: materialize the corpus and the batch"):
        prepared_here(first, upstream, home)
