"""Starts local-bigquery offline; run by the emulator's own interpreter (Python 3.13).

local-bigquery connects DuckDB with `TimeZone=UTC`, which makes DuckDB fetch the `icu`
extension, and it runs `INSTALL spatial` and attaches `ducklake`; none of them can be
downloaded here. This launcher points DuckDB at the extensions the `duckdb-extension-*` wheels
ship (an extension directory it lays out), turns off automatic downloads, and sets the time
zone after connecting. Arguments are local-bigquery's own (`serve --host ... --port ...`).
"""

import glob
import importlib.util
import os
import shutil
import sys
import tempfile
from typing import Any

import duckdb

_WHEELS = ("duckdb_extension_ducklake", "duckdb_extension_spatial")


def _extension_directory() -> str:
    """Lays out the wheels' extension files as DuckDB expects: `<dir>/<version>/<platform>/`.

    The layout lives in the emulator's environment and is made once: every emulator started
    after reads the same folder (a temporary one per start was left behind by each, since the
    emulator is stopped by a signal). Emulators starting at once each lay it out aside and
    move it into place; the first move wins.
    """
    root = os.path.join(sys.prefix, "embed-assets-duckdb-extensions")
    if os.path.isdir(root):
        return root
    aside = tempfile.mkdtemp(prefix="embed-assets-duckdb-extensions-", dir=sys.prefix)
    platform = duckdb.execute("PRAGMA platform").fetchall()[0][0]
    for wheel in _WHEELS:
        spec = importlib.util.find_spec(wheel)
        if spec is None or spec.origin is None:
            shutil.rmtree(aside)
            sys.exit(
                f"the BigQuery emulator's environment lacks {wheel}: run `make bigquery-emulator`"
            )
        pattern = os.path.join(
            os.path.dirname(spec.origin), "extensions", "*", "*.duckdb_extension"
        )
        for path in glob.glob(pattern):
            folder = os.path.join(aside, os.path.basename(os.path.dirname(path)), platform)
            os.makedirs(folder, exist_ok=True)
            os.symlink(path, os.path.join(folder, os.path.basename(path)))
    try:
        os.rename(aside, root)
    except OSError:  # another emulator moved its layout in first
        shutil.rmtree(aside)
    return root


_EXTENSIONS = _extension_directory()
_connect = duckdb.connect


def _offline_connect(database: Any = ":memory:", read_only: bool = False, **kwargs: Any) -> Any:
    config = dict(kwargs.pop("config", None) or {})
    time_zone = config.pop("TimeZone", None)
    config.setdefault("autoinstall_known_extensions", False)
    config.setdefault("extension_directory", _EXTENSIONS)
    connection = _connect(database, read_only, config=config, **kwargs)
    if time_zone:
        connection.execute(f"SET TimeZone = '{time_zone}'")
    return connection


setattr(duckdb, "connect", _offline_connect)  # noqa: B010 (a module attribute, replaced)

if __name__ == "__main__":
    from local_bigquery.cli import main

    sys.exit(main(sys.argv[1:]))
