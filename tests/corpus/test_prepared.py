"""The prepared-corpus file keeps every accepted text, whatever else its source column held."""

from pathlib import Path

import pandas as pd
import pytest

from embed_assets import EmbeddingPipeline
from embed_assets.corpus.prepared import write_prepared
from tests.helpers import VERTEX_MODEL, planned_against_an_empty_table

pytestmark = pytest.mark.timeout(60)


def test_texts_beside_numbers_in_one_column_are_kept_and_planned(tmp_path: Path) -> None:
    """A column of texts and numbers: the numbers' rows are rejected, the texts embedded."""
    raw = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "content": ["a first text", 5, None, "a second text"]}
    )
    rows = EmbeddingPipeline(name="docs", corpus=str(tmp_path), model=VERTEX_MODEL).prepare(raw)
    prepared = write_prepared(rows, tmp_path / "prepared.parquet")
    found = prepared.read()
    assert found["content"].tolist()[0] == "a first text"
    assert found["content"].tolist()[3] == "a second text"
    assert pd.isna(found["content"].tolist()[1])  # 5 is not kept as text
    assert prepared.rejected_by_reason == {"content is not text": 1, "missing content": 1}
    plan = planned_against_an_empty_table(prepared, tmp_path / "plan")
    assert sorted(plan.prompts["content"]) == ["a first text", "a second text"]
    assert plan.counts["submit"] == 2 and plan.counts["rejected"] == 2
