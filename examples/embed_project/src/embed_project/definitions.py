"""Loads every component under `defs/`: here, two embedding pipelines."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """The definitions of every component in `defs/`."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
