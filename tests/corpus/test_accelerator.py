"""The compiled accelerators are loaded lazily, can be turned off, and nothing is loaded by path."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from embed_assets.corpus import accelerator, pure_splitter
from embed_assets.corpus.chunking import Span, chunk_spans

PACKAGE = Path(accelerator.__file__).resolve().parent.parent


def _python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_importing_the_package_loads_no_extension() -> None:
    loaded = _python(
        "import sys, embed_assets; "
        "print([m for m in sys.modules if m.rsplit('.', 1)[-1] in ('_splitter', '_digest')])"
    )
    assert loaded == "[]"


def test_the_pure_python_paths_can_be_chosen_where_the_extensions_are_built() -> None:
    probe = (
        "from embed_assets.corpus.accelerator import compiled_extensions, splitter; "
        "from embed_assets.corpus.digest import compiled_digest; "
        "print(compiled_extensions(), splitter().__name__, compiled_digest())"
    )
    assert _python(probe, EMBED_ASSETS_PURE_PYTHON="1") == (
        "[] embed_assets.corpus.pure_splitter None"
    )
    assert _python(probe, EMBED_ASSETS_PURE_PYTHON="0").startswith(
        "['_splitter', '_digest'] embed_assets.corpus._splitter <module"
    )


def test_chunking_works_with_the_pure_python_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accelerator, "compiled_module", lambda name: None)
    assert accelerator.splitter() is pure_splitter
    text = "First paragraph here.\n\n" + "word " * 40
    spans = chunk_spans(text, max_tokens=12)
    assert spans[0] == Span(0, 21) and len(spans) > 3


def test_no_library_is_loaded_by_path() -> None:
    """No ctypes: a C library is linked when an extension is built, or not used at all."""
    found = [
        f"{path.relative_to(PACKAGE)}"
        for path in PACKAGE.rglob("*.py")
        if any(word in path.read_text() for word in ("ctypes", "find_library", "CDLL", "dlopen"))
    ]
    assert found == []
