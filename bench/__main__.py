"""`python -m bench [--quick] [--repeats N] [--only NAME ...]`: run the suite, print the table.

Writes `bench/results.json` (or `--output`) with every row, the raw runs and the machine.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from bench.figures import FIGURES, Sizes
from bench.harness import Row, format_table


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    with open("/proc/cpuinfo") as cpuinfo:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    model = names[0] if names else platform.processor()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(total_kb / (1 << 20), 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def main() -> None:
    """Runs the figures asked for and reports them."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (smoke)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="figures to run")
    parser.add_argument("--workdir", default=".embed-assets/bench", help="generated data")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    options = parser.parse_args()
    sizes = Sizes.quick() if options.quick else Sizes.full()
    repeats = 1 if options.quick else options.repeats
    workdir = Path(options.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    details: dict[str, object] = {}
    started = time.monotonic()
    chosen: list[tuple[str, Callable[..., tuple[list[Row], dict[str, object]]]]] = [
        (name, figure)
        for name, figure in FIGURES.items()
        if not options.only or name in options.only
    ]
    for name, figure in chosen:
        print(f"== {name}", flush=True)
        figure_rows, figure_details = figure(workdir=workdir, sizes=sizes, repeats=repeats)
        rows.extend(figure_rows)
        details[name] = figure_details
        print(format_table(figure_rows), flush=True)
    print("\n" + format_table(rows))
    Path(options.output).write_text(
        json.dumps(
            {
                "machine": machine(),
                "quick": options.quick,
                "repeats": repeats,
                "seconds": round(time.monotonic() - started, 1),
                "rows": [row.to_json() for row in rows],
                "details": details,
            },
            indent=2,
        )
        + "\n"
    )
    failed = [row.figure for row in rows if not row.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} targets met; results in {options.output}")


if __name__ == "__main__":
    main()
