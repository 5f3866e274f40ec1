"""`embed-assets`: run a user's corpus headless, clear errors for bad files, status and search."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import make_corpus

pytestmark = pytest.mark.e2e  # each test runs the whole pipeline


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "embed_assets.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_a_user_corpus_and_print_a_json_summary(tmp_path: Path) -> None:
    corpus = make_corpus(40).rename(columns={"id": "doc", "content": "body"})
    corpus.loc[len(corpus)] = {"doc": "doc-0001", "body": "a duplicate id"}
    corpus.loc[len(corpus)] = {"doc": "empty", "body": " "}
    corpus.to_csv(tmp_path / "docs.csv", index=False)
    result = cli(
        "--workdir",
        "w",
        "run",
        "--corpus",
        "docs.csv",
        "--id-column",
        "doc",
        "--text-column",
        "body",
        "--model",
        "lexical-hash",
        "--max-prompts-per-job",
        "15",
        "--json",
        "--allow-rejected-rows",  # 3 of 42 (7 %) are rejected, above the 5 % limit
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["rows_read"] == 42
    assert summary["rejected"] == 3
    assert summary["rejected_by_reason"] == {
        "duplicate id": 2,
        "empty or whitespace-only content": 1,
    }
    assert summary["jobs"] == 3
    assert summary["embedded"] + summary["failed"] + summary["rejected"] == 42
    assert summary["table_rows"] == 39
    status = cli("--workdir", "w", "status", "--name", "corpus", cwd=tmp_path)
    assert status.returncode == 0 and status.stdout.count("SUCCEEDED") == 3
    search = cli("--workdir", "w", "search", "--name", "corpus", "document 7 river", cwd=tmp_path)
    assert search.returncode == 0 and len(search.stdout.strip().splitlines()) == 5
    assert (tmp_path / "w" / "dagster").is_dir()


def test_a_missing_column_is_one_line_naming_the_file_and_its_columns(tmp_path: Path) -> None:
    pd.DataFrame({"key": ["1"], "text": ["hello"]}).to_json(
        tmp_path / "c.jsonl", orient="records", lines=True
    )
    result = cli(
        "--workdir", "w", "run", "--corpus", "c.jsonl", "--model", "lexical-hash", cwd=tmp_path
    )
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert "c.jsonl" in error and "its columns are: key, text" in error


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = cli(
        "--workdir", "w", "run", "--corpus", "nope.parquet", "--model", "lexical-hash", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "nope.parquet does not exist" in result.stderr.strip().splitlines()[-1]


def test_an_empty_corpus_after_a_good_run_exits_1_with_one_line_and_keeps_the_table(
    tmp_path: Path,
) -> None:
    """The observed "table wiped, exit 0": now exit 1, the cause on the last line, 3 rows kept."""
    (tmp_path / "docs.csv").write_text("id,content\n1,alpha beta\n2,gamma delta\n3,epsilon\n")
    args = ("--workdir", "w", "run", "--corpus", "docs.csv", "--model", "lexical-hash")
    assert cli(*args, "--json", cwd=tmp_path).returncode == 0
    (tmp_path / "docs.csv").write_text("id,content\n")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "the corpus has no row that can be embedded" in last
    assert "--allow-empty-corpus" in last
    status = cli("--workdir", "w", "search", "--name", "corpus", "-k", "10", "alpha", cwd=tmp_path)
    assert sorted(line.split()[-1] for line in status.stdout.splitlines()) == ["1", "2", "3"]


def test_the_cli_as_a_person_uses_it(tmp_path: Path) -> None:
    """--workdir after the subcommand, the last pipeline as default, one clean line per error."""
    (tmp_path / "docs.csv").write_text("id,content\n1,alpha beta\n2,gamma delta\n")
    (tmp_path / "latin.csv").write_bytes("id,content\n1,caf\xe9\n".encode("latin-1"))
    ran = cli("run", "--workdir", "w", "--corpus", "docs.csv", "--name", "mine", "--model",
              "lexical-hash", cwd=tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "nanobind" not in ran.stderr and "leaked" not in ran.stderr
    status = cli("status", "--workdir", "w", cwd=tmp_path)  # no --name: the last pipeline run
    assert status.returncode == 0 and "1 jobs" in status.stdout
    found = cli("search", "alpha", "--workdir", "w", cwd=tmp_path)
    assert found.stdout.split()[1] == "1"
    bad = cli("run", "--workdir", "w", "--corpus", "latin.csv", "--name", "latin", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"embed-assets run: latin__corpus: corpus file {tmp_path / 'latin.csv'} is not utf-8; "
        "try --encoding latin-1 (or the encoding field)"
    ]
    good = cli("run", "--workdir", "w", "--corpus", "latin.csv", "--name", "latin",
               "--encoding", "latin-1", "--model", "lexical-hash", cwd=tmp_path)  # fmt: skip
    assert good.returncode == 0, good.stderr
