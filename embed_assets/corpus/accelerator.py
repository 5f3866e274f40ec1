"""The compiled accelerators: used when the package was built with them, never required.

The chunking rule (`_splitter`) and the content hashes (`_digest`) are C extensions, built at
install where a C compiler is found. Each has a pure-Python path that gives the same results
(`corpus.pure_splitter`; DuckDB's `sha256` for the hashes), so a table made by one path is
reused by the other with no new prompt. `import embed_assets` never loads an extension; the
first chunking or hashing does. Set `EMBED_ASSETS_PURE_PYTHON=1` to use the pure-Python paths
where the extensions are built too.
"""

import functools
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from typing_extensions import Buffer

PURE_PYTHON_VARIABLE = "EMBED_ASSETS_PURE_PYTHON"
EXTENSIONS = ("_splitter", "_digest")


class Splitter(Protocol):
    """What the compiled `_splitter` and `corpus.pure_splitter` both offer."""

    def spans(
        self,
        offsets: "Buffer",
        data: "Buffer",
        documents: "Buffer",
        token_limits: "Buffer",
        counter: Callable[[str], int] | None = None,
        overlap: int = 0,
    ) -> tuple[bytes, bytes, bytes]:
        """Chunks per document, `[start, end)` in characters and in bytes, as int64 bytes."""

    def gather(self, data: "Buffer", places: "Buffer", into: "Buffer") -> None:
        """Copies the `[start, end)` byte ranges `places` of `data` one after another."""


class Digest(Protocol):
    """What the compiled `_digest` offers."""

    def sha256_hex(
        self,
        prefix: "Buffer",
        offsets: "Buffer",
        data: "Buffer",
        title_offsets: "Buffer",
        title_data: "Buffer",
        first: int,
        stop: int,
        into: "Buffer",
    ) -> None:
        """Hex SHA-256 of `prefix || title || 0x1F || text` of rows `first..stop-1`."""

    def engine(self) -> str:
        """Which SHA-256 code hashes."""

    def use_portable(self, portable: bool = True) -> str:
        """Hashes in portable C from now on (False: with the fastest code this CPU runs)."""


def pure_python_requested() -> bool:
    """True when `EMBED_ASSETS_PURE_PYTHON` is set to anything but empty or 0."""
    return os.environ.get(PURE_PYTHON_VARIABLE, "").strip() not in ("", "0")


@functools.cache
def compiled_module(name: str) -> ModuleType | None:
    """The extension `embed_assets.corpus.<name>`, or None where it was not built (or not wanted)."""
    if pure_python_requested():
        return None
    try:
        return importlib.import_module(f"embed_assets.corpus.{name}")
    except ImportError:  # built without a compiler, or for another Python
        return None


def splitter() -> Splitter:
    """The chunking rule: compiled where it was built, else in pure Python."""
    module = compiled_module("_splitter")
    if module is None:
        from embed_assets.corpus import pure_splitter

        module = pure_splitter
    return cast(Splitter, module)


def compiled_extensions() -> list[str]:
    """The extensions this installation uses (an empty list: pure Python)."""
    return [name for name in EXTENSIONS if compiled_module(name) is not None]
