"""The public surface: what `embed_assets` exports is what docs/public-api.md explains."""

import re
from pathlib import Path

import embed_assets

PUBLIC_API = Path(__file__).resolve().parent.parent / "docs" / "public-api.md"


def _public_api_section() -> str:
    text = PUBLIC_API.read_text()
    start = text.index("## Names")
    return text[start : text.index("\n## ", start)]


def test_every_exported_name_is_explained_in_the_public_api_page() -> None:
    section = _public_api_section()
    explained = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)", section))
    missing = [
        name for name in embed_assets.__all__ if name != "__version__" and name not in explained
    ]
    assert missing == []


def test_every_exported_name_exists() -> None:
    assert [name for name in embed_assets.__all__ if not hasattr(embed_assets, name)] == []


def test_sub_packages_re_export_nothing() -> None:
    """Internals are imported from their modules; only the top level re-exports.

    Two exceptions: `embed_assets.testing` (the test-support API: emulators, fault knobs) and
    `embed_assets.cli` (`main`, the console script's entry point).
    """
    package = Path(embed_assets.__file__).parent
    allowed = {package / "testing", package / "cli"}
    exporting = [
        str(init.relative_to(package))
        for init in package.rglob("__init__.py")
        if init.parent != package and init.parent not in allowed and "import " in init.read_text()
    ]
    assert exporting == []
