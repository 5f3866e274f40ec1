"""The release artifacts install where users are: no compiler, `python -OO`, any working folder.

The sdist is built from this checkout and installed into a fresh environment where the C
compiler is `/bin/false`, as in a slim image. That installation chunks and hashes in pure
Python; a table made by the compiled installation (this one) is reused there with no prompt,
and the other way round.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import module_documentation

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
UV = str(Path(sys.executable).with_name("uv"))
NO_COMPILER = {"CC": "/bin/false", "CXX": "/bin/false"}


@dataclass(frozen=True)
class Installed:
    """A fresh environment holding the package built from its sdist without a compiler."""

    python: Path
    build_log: str

    @property
    def cli(self) -> Path:
        return self.python.with_name("embed-assets")


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        args,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _sdist(folder: Path) -> Path:
    """The sdist, built from a copy of the checkout (builds write beside the sources)."""
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in listed.splitlines():
        source, copy = ROOT / name, folder / "source" / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
    _run([UV, "build", "--sdist", "--out-dir", str(folder), str(folder / "source")])
    (sdist,) = folder.glob("embed_assets-*.tar.gz")
    return sdist


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """sdist -> wheel (as an installer builds one, with no compiler) -> a fresh environment."""
    root = tmp_path_factory.mktemp("install")
    sdist = _sdist(root)
    log = _run(
        [UV, "build", "--wheel", "--out-dir", str(root / "wheel"), str(sdist)], env=NO_COMPILER
    )
    (wheel,) = (root / "wheel").glob("*.whl")
    _run([UV, "venv", "--quiet", "--python", sys.executable, str(root / "venv")])
    _run(
        [UV, "pip", "install", "--quiet", str(wheel)],
        env={**NO_COMPILER, "VIRTUAL_ENV": str(root / "venv")},
    )
    yield Installed(root / "venv" / "bin" / "python", log)


def test_the_sdist_builds_without_a_compiler_and_says_so(installed: Installed) -> None:
    failed = [line for line in installed.build_log.splitlines() if "failed" in line]
    assert len(failed) == 2 and all("building extension" in line for line in failed)
    assert "; pure Python)" in _run([str(installed.cli), "--version"])
    compiled = _run([str(Path(sys.executable).with_name("embed-assets")), "--version"])
    assert "; compiled accelerators: _splitter, _digest)" in compiled


def test_the_package_imports_and_builds_its_component_under_minus_oo(
    installed: Installed,
) -> None:
    probe = (
        "import embed_assets as e; "
        "s = e.EmbeddingPipelineComponent.model().model_json_schema(); "
        "print(s['properties']['corpus']['description'])"
    )
    output = _run([str(installed.python), "-OO", "-P", "-c", probe])
    assert output.startswith("A JSONL / CSV / Parquet path or `gs://` URI")


def _corpus(path: Path, *, edited: bool = False) -> None:
    lines = module_documentation("argparse", "json").splitlines()
    documents = ["\n".join(lines[i : i + 40]) for i in range(0, 800, 40)]
    if edited:
        documents[7] = documents[7].replace(" the ", " THE ", 1)
    path.write_text(
        "".join(
            json.dumps({"id": f"doc-{i:02d}", "content": d}) + "\n" for i, d in enumerate(documents)
        )
    )


def _refresh(cli: list[str], workdir: Path, corpus: Path, *, cwd: Path) -> dict[str, object]:
    output = _run(
        [*cli, "--workdir", str(workdir), "run", "--corpus", str(corpus), "--model",
         "lexical-hash", "--chunk-tokens", "60", "--chunk-overlap", "5", "--json"],
        cwd=cwd,
    )  # fmt: skip
    summary: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    assert summary["failed"] == 0, summary
    return summary


def test_a_table_made_by_one_path_is_reused_by_the_other_with_no_prompt(
    installed: Installed, tmp_path: Path
) -> None:
    """Compiled, then pure Python run from a folder that shadows the package, then back."""
    corpus, workdir = tmp_path / "docs.jsonl", tmp_path / "work"
    _corpus(corpus)
    shadowing = tmp_path / "shadowing"  # a source checkout with no built extension, and worse
    (shadowing / "embed_assets").mkdir(parents=True)
    (shadowing / "embed_assets" / "__init__.py").write_text("raise ImportError('shadowed')\n")
    (shadowing / "numpy.py").write_text("raise ImportError('shadowed')\n")
    compiled = [str(Path(sys.executable).with_name("embed-assets"))]
    pure = [str(installed.cli)]

    first = _refresh(compiled, workdir, corpus, cwd=tmp_path)
    assert first["documents"] == 20 and int(str(first["table_rows"])) > 40  # cut into chunks
    assert 40 < int(str(first["prompts"])) <= int(str(first["table_rows"]))  # same text: one
    again = _refresh(pure, workdir, corpus, cwd=shadowing)
    assert (again["prompts"], again["table_rows"]) == (0, first["table_rows"])

    _corpus(corpus, edited=True)
    edited = _refresh(pure, workdir, corpus, cwd=shadowing)
    assert 1 <= int(str(edited["prompts"])) <= 3  # only the chunks around the edit
    back = _refresh(compiled, workdir, corpus, cwd=tmp_path)
    assert (back["prompts"], back["table_rows"]) == (0, edited["table_rows"])
    optimized = _refresh([str(installed.python), "-OO", "-P", "-m", "embed_assets.cli"], workdir,
                         corpus, cwd=shadowing)  # fmt: skip
    assert optimized["prompts"] == 0


def test_a_pure_python_wheel_builds_from_the_sdist(tmp_path: Path) -> None:
    _run(
        [UV, "build", "--wheel", "--out-dir", str(tmp_path / "wheel"), str(_sdist(tmp_path))],
        env={"EMBED_ASSETS_PURE_PYTHON": "1"},
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
