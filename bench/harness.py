"""Running a measurement in a fresh process, taking medians, and the result rows."""

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

MB = 1 << 20


@dataclass(frozen=True)
class Measurement:
    """Medians over repeated runs of one task."""

    seconds: float
    peak_rss_bytes: int
    runs: list[dict[str, Any]]

    @property
    def peak_rss_mb(self) -> float:
        """Median peak RSS in MiB."""
        return self.peak_rss_bytes / MB

    def extra(self, key: str) -> Any:
        """A value the task reported (taken from the first run)."""
        return self.runs[0][key]


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    figure: str
    ours: float
    baseline: float
    ratio: float
    target: str
    passed: bool
    unit: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The row as results.json holds it."""
        return asdict(self)


def run_task(
    task: str, repeats: int, *, env: dict[str, str] | None = None, **arguments: Any
) -> Measurement:
    """Runs `bench.tasks <task>` `repeats` times, each in a new process; returns the medians.

    The task times only its own work (not interpreter start-up or imports) and reports the
    process's peak RSS (VmHWM) at its end. `env` adds to the process's environment.
    """
    runs = []
    for _ in range(repeats):
        completed = subprocess.run(
            [sys.executable, "-m", "bench.tasks", task, json.dumps(arguments)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"task {task} failed:\n{completed.stdout}\n{completed.stderr}")
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        runs.append(json.loads(lines[-1]))
    return Measurement(
        seconds=statistics.median(r["seconds"] for r in runs),
        peak_rss_bytes=int(statistics.median(r["peak_rss_bytes"] for r in runs)),
        runs=runs,
    )


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def ratio_row(
    figure: str,
    *,
    ours: float,
    baseline: float,
    unit: str,
    at_least: float | None = None,
    at_most: float | None = None,
    reported: bool = False,
    note: str = "",
) -> Row:
    """A row whose ratio is ours / baseline, checked against a lower or an upper bound.

    `reported=True`: a figure with no target, shown for what it tells (it counts as met).
    """
    ratio = ours / baseline if baseline else float("inf")
    if reported:
        return Row(figure, ours, baseline, ratio, "reported", True, unit, note)
    if at_least is not None:
        return Row(
            figure, ours, baseline, ratio, f">= {at_least:g}x", ratio >= at_least, unit, note
        )
    assert at_most is not None
    return Row(figure, ours, baseline, ratio, f"<= {at_most:g}x", ratio <= at_most, unit, note)


def format_table(rows: list[Row]) -> str:
    """Renders rows as a Markdown table."""
    lines = [
        "| figure | ours | baseline | ratio | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.figure} | {_number(row.ours)} {row.unit} | {_number(row.baseline)} {row.unit} "
            f"| {row.ratio:.2f} | {row.target} | {_result(row)} |"
        )
    return "\n".join(lines)


def _result(row: Row) -> str:
    if row.target == "reported":
        return row.note or "-"
    return "pass" if row.passed else "FAIL"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
