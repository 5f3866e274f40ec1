"""Prints `name==version` for the lowest declared version of each package named (the floor lane).

`python tests/floor_requirements.py dagster google-genai` reads `pyproject.toml`'s
`dependencies` and prints `dagster==1.11.0` for `dagster>=1.11.0`: the versions the minimum-
versions lane installs, so a lower bound that the code does not work with fails CI.
"""

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def floors(names: list[str]) -> list[str]:
    """The `name==version` pins of the named packages' declared lower bounds."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = {}
    for requirement in declared:
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", requirement)
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(2)}"
    missing = [name for name in names if name.lower() not in pins]
    if missing:
        raise SystemExit(f"no lower bound declared for {', '.join(missing)} in {PYPROJECT}")
    return [pins[name.lower()] for name in names]


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:])))
