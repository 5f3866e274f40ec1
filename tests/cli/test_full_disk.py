"""A full disk: one line saying so, nothing left to clean by hand, and a rerun that finishes.

The refreshes run on a real 48 MB tmpfs mounted in a private mount namespace (`unshare -rm`,
see `tests/full_disk_scenario.py`); where the machine allows no such mount, ENOSPC is injected
at the write instead.
"""

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embed_assets.cli.disk import disk_full_message
from embed_assets.staging.files import LocalStorage

ROOT = Path(__file__).resolve().parents[2]
DISK_LINE = "no space left on the disk holding"


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not _can_mount(), reason="no tmpfs mount here (the injected test runs)")
@pytest.mark.parametrize(
    "headroom_kb",
    [
        600,  # full while Dagster records the run
        3000,  # full while the local job writes its predictions: the job fails
        7000,  # full while landing writes the table
    ],
)
def test_a_full_disk_says_so_in_one_line_and_a_rerun_needs_no_cleanup(
    tmp_path: Path, headroom_kb: int
) -> None:
    """3,000 texts changed on a nearly full disk: exit 1 with one line; after freeing space, all
    3,000 rows are in the table, staging holds only manifests, and nothing was paid twice
    except the rows of a job the full disk failed."""
    subprocess.run(
        ["unshare", "-rm", sys.executable, "-m", "tests.full_disk_scenario"]
        + [str(tmp_path), str(headroom_kb)],
        cwd=ROOT,
        check=True,
        timeout=280,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["warm"]["exit"] == 0, result["warm"]
    assert result["full"]["exit"] == 1
    assert len(result["full"]["stderr"]) == 1 and DISK_LINE in result["full"]["stderr"][0]
    assert result["rerun"]["exit"] == 0, result["rerun"]
    assert len(result["ids"]) == 3000 and result["distinct_hashes"] == 3000
    assert all(name.endswith("manifest.parquet") for name in result["staged_files"])
    # 3,000 texts at first, 3,000 changed: anything more is a job the full disk failed
    assert result["prompts"] - result["failed_job_prompts"] == 6000
    assert all("No space left" in error for error in result["failed_job_errors"])


def test_an_injected_enospc_leaves_no_partial_file_and_is_told_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC at the write of a staged file: no temporary file is left, and the line says why."""
    import os

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self.handle = real_fdopen(fd, mode)

        def __enter__(self) -> "FullDisk":
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("embed_assets.staging.files.os.fdopen", FullDisk)
    target = tmp_path / "staging" / "requests-00000.jsonl"
    with pytest.raises(OSError) as raised:
        LocalStorage(tmp_path).write_bytes(str(target), b'{"content": "x"}\n')
    assert list(target.parent.iterdir()) == []
    line = disk_full_message(raised.value, workdir=tmp_path)
    assert line is not None and line.startswith(f"{DISK_LINE} {tmp_path}")
    assert disk_full_message(ValueError("bad id"), workdir=tmp_path) is None
