"""A refresh on a disk that fills up, then a rerun after space is freed, on a real small disk.

`unshare -rm python -m tests.full_disk_scenario OUT HEADROOM_KB` mounts a 48 MB tmpfs (in its
own mount namespace), runs `embed-assets run` on it once with room to spare, changes every
text, fills the disk up to HEADROOM_KB, runs again, frees the space, runs a third time, and
writes what happened to `OUT/result.json` (outside the small disk): exit codes, each run's
stderr, the prompts every job took in (and those of failed jobs), the ids in the table and
the files left in staging.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson

from tests.helpers import make_corpus

ROOT = Path(__file__).resolve().parents[1]


def _cli(workdir: Path, corpus: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "embed_assets.cli", "--workdir", str(workdir), "run"]
        + ["--corpus", str(corpus), "--model", "lexical-hash", "--name", "docs"]
        + ["--allow-large-delete"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    lines = done.stderr.strip().splitlines()
    return {"exit": done.returncode, "stderr": lines[-20:]}


def _jobs(workdir: Path) -> list[dict[str, object]]:
    return [orjson.loads(path.read_bytes()) for path in (workdir / "jobs").glob("*/job.json")]


def _prompts(jobs: list[dict[str, object]]) -> int:
    return sum(int(str(job.get("totalCount") or 0)) for job in jobs)


def main(out: Path, headroom_kb: int) -> None:
    disk = out / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], check=True)
    workdir = disk / "w"
    corpus = make_corpus(3000)
    corpus.to_csv(out / "docs.csv", index=False)
    result: dict[str, object] = {"warm": _cli(workdir, out / "docs.csv")}
    corpus["content"] = corpus["content"] + " (second edition)"
    corpus.to_csv(out / "docs.csv", index=False)
    free_kb = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // 1024
    filler = disk / "filler"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free_kb - headroom_kb) * 1024)
    result["full"] = _cli(workdir, out / "docs.csv")
    filler.unlink()
    result["rerun"] = _cli(workdir, out / "docs.csv")
    jobs = _jobs(workdir)
    failed = [job for job in jobs if job.get("state") == "JOB_STATE_FAILED"]
    result["prompts"] = _prompts(jobs)
    result["failed_job_prompts"] = _prompts(failed)
    result["failed_job_errors"] = [str(job.get("error")) for job in failed]
    rows = []
    if (workdir / "embeddings.duckdb").exists():
        with duckdb.connect(str(workdir / "embeddings.duckdb"), read_only=True) as con:
            rows = con.execute('SELECT id, content_hash FROM "docs"').fetchall()
    result["ids"] = sorted(str(row[0]) for row in rows)
    result["distinct_hashes"] = len({row[1] for row in rows})
    result["staged_files"] = sorted(
        str(path.relative_to(workdir))
        for path in (workdir / "staging").rglob("*")
        if path.is_file()
    )
    (out / "result.json").write_text(json.dumps(result, indent=1))
    subprocess.run(["umount", str(disk)], check=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
