"""The README and the docs: every relative link resolves, to a file and to a heading in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.M)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings
    }


def test_every_relative_link_resolves() -> None:
    broken = []
    links = 0
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            links += 1
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and anchor not in _anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []
    assert links > 20


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [p.name for p in PAGES[1:-1] if f"(docs/{p.name}" not in readme] == []


def test_the_project_speaks_of_itself_not_of_how_it_was_made() -> None:
    """No issue numbers or work history in the docs, the code, the comments or the tests."""
    pattern = re.compile(r"\b(issue|stop|turn) #?\d+\b|\bsince this stop\b", re.I)
    files = [
        *PAGES,
        *(p for folder in ("embed_assets", "tests", "bench", "examples") for p in (ROOT / folder).rglob("*")
          if p.suffix in {".py", ".c", ".js", ".md", ".yaml", ".toml"}),
        ROOT / "Makefile",
        ROOT / "pyproject.toml",
    ]  # fmt: skip
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in files
        for match in pattern.finditer(path.read_text())
        if path.name != "test_docs.py"
    ]
    assert found == []
