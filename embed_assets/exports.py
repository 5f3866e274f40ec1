"""Public names imported on first use: a package's `__getattr__` and `__dir__` (PEP 562).

The package and `embed_assets.testing` re-export names from modules that load Dagster and the
Google clients. A process that needs only part of the package (a batch job's worker, the
command line's `--help`) would pay for all of it on `import embed_assets`; with these, it pays
for what it uses.
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names are in `exports`.

    Args:
        package: the package's `__name__`.
        exports: each public name and the module that defines it.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups find it without calling this
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
