"""Corpus reading, validation with reasons, and hashing."""

from pathlib import Path

import pandas as pd
import pytest

from embed_assets.corpus.hashing import content_hashes
from embed_assets.corpus.sources import read_corpus_file
from embed_assets.corpus.validation import CorpusColumns, CorpusError, validate_corpus


def test_bad_rows_are_rejected_with_their_reasons() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", None, "b", "b", "c", "d", "e", "f", "  "],
            "content": ["ok", "no id", "dup 1", "dup 2", None, "", "   ", 42, "blank id"],
        }
    )
    validated = validate_corpus(frame, CorpusColumns(), source="test")
    assert validated.accepted["id"].tolist() == ["a"]
    reasons = dict(zip(validated.rejected["row"], validated.rejected["reason"], strict=True))
    assert reasons == {
        1: "missing id",
        2: "duplicate id",
        3: "duplicate id",
        4: "missing content",
        5: "empty or whitespace-only content",
        6: "empty or whitespace-only content",
        7: "content is not text",
        8: "missing id",
    }
    assert len(validated.accepted) + len(validated.rejected) == len(frame)
    summary = validated.rejected_summary()
    assert summary["duplicate id"]["count"] == 2


def test_integer_ids_become_strings() -> None:
    validated = validate_corpus(
        pd.DataFrame({"id": [1, 2], "content": ["x", "y"]}), CorpusColumns(), source="t"
    )
    assert validated.accepted["id"].tolist() == ["1", "2"]


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"corpus file .*nope.jsonl does not exist"):
        read_corpus_file(str(tmp_path / "nope.jsonl"))


def test_unparseable_file_names_the_file_and_format(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": 1, "content": "x"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"broken.jsonl cannot be parsed as JSONL"):
        read_corpus_file(str(path))


def test_missing_column_names_the_columns_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,body\n1,hello\n")
    frame = read_corpus_file(str(path))
    with pytest.raises(CorpusError, match=r"has no column 'content'; its columns are: id, body"):
        validate_corpus(frame, CorpusColumns(), source=str(path))


def test_parquet_and_csv_are_read(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["1", "2"], "content": ["a", "b"]})
    frame.to_parquet(tmp_path / "c.parquet")
    frame.to_csv(tmp_path / "c.csv", index=False)
    assert read_corpus_file(str(tmp_path / "c.parquet"))["content"].tolist() == ["a", "b"]
    assert read_corpus_file(str(tmp_path / "c.csv"))["id"].tolist() == ["1", "2"]


def test_hash_changes_with_everything_that_changes_a_vector() -> None:
    base = {"model": "m", "task_type": "RETRIEVAL_DOCUMENT", "output_dimensionality": None}
    reference = content_hashes(["text"], [None], **base)[0]  # type: ignore[arg-type]
    assert content_hashes(["text"], [None], **base) == [reference]  # type: ignore[arg-type]
    assert content_hashes(["text2"], [None], **base)[0] != reference  # type: ignore[arg-type]
    assert content_hashes(["text"], ["title"], **base)[0] != reference  # type: ignore[arg-type]
    assert content_hashes(["text"], [None], **{**base, "model": "n"})[0] != reference  # type: ignore[arg-type]
    assert content_hashes(["text"], [None], **{**base, "task_type": "CLUSTERING"})[0] != reference  # type: ignore[arg-type]
    assert content_hashes(["text"], [None], **{**base, "output_dimensionality": 8})[0] != reference  # type: ignore[arg-type]


def test_no_white_space_character_counts_as_visible() -> None:
    """Validation tests for blankness only the texts with no visible character: that is exact
    only if every character Arrow calls white space is one the visibility regex skips."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from embed_assets.corpus.validation import _VISIBLE

    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    characters = pa.array(every, pa.string())
    spaces = pc.filter(characters, pc.utf8_is_space(characters))
    assert len(spaces) >= 25  # the ASCII ones and Unicode's separators
    assert not pc.any(pc.match_substring_regex(spaces, _VISIBLE)).as_py()


def test_white_space_of_every_kind_is_empty_content_and_format_characters_invisible() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "content": ["\u3000\u2028\t", "\u200b\u2060", "x\u200b", " \u00a0y", "\u00a0"],
        }
    )
    reasons = validate_corpus(frame, CorpusColumns(), source="t").rows["reason"].tolist()
    assert reasons == [
        "empty or whitespace-only content",
        "content has no visible characters",
        None,
        None,
        "empty or whitespace-only content",
    ]
