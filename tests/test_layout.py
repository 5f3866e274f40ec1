"""The package's layout: no import cycles, modules of a few hundred lines, no private imports."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "embed_assets"
MAX_LINES = 400
# the order of layers (DESIGN.md "Layers"): a module never imports one of a higher layer
LAYERS = {
    "embed_assets.errors": 0,
    "embed_assets.staging": 0,
    "embed_assets.bigquery": 0,
    "embed_assets.predictions": 1,
    "embed_assets.models": 2,
    "embed_assets.corpus": 3,
    "embed_assets.store": 3,
    "embed_assets.backends": 3,
    "embed_assets.jobs": 4,
    "embed_assets.warehouse": 4,
    "embed_assets.pipeline": 5,
    "embed_assets.testing": 6,
    "embed_assets.components": 6,
    "embed_assets.cli": 7,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            if MODULES[module].name != "__init__.py":
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join(anchor + ([node.module] if node.module else []))
        candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for name in candidates:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    """Edges module -> imported module, leaving out a package importing its own children."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(name, node):
                    if target != name and not target.startswith(name + "."):
                        graph[name].add(target)
    return graph


def _layer(module: str) -> int | None:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def test_the_import_graph_has_no_cycle() -> None:
    """A depth-first search over the import graph finds no module that reaches itself."""
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module) :] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            # a package's __init__ re-exports its children; that is not a cycle of ideas
            if MODULES[target].name == "__init__.py" and module.startswith(target + "."):
                continue
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_no_module_imports_a_higher_layer() -> None:
    """pipeline -> jobs -> backends / store / corpus -> models -> predictions, staging."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (low := _layer(module)) is not None
        and (high := _layer(target)) is not None
        and high > low
    ]
    assert wrong == []


def test_modules_are_a_few_hundred_lines() -> None:
    """No module is longer than 400 non-blank lines."""
    sizes = {
        name: sum(1 for line in path.read_text().splitlines() if line.strip())
        for name, path in MODULES.items()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_private_dagster_import() -> None:
    """Only Dagster's public API is used."""
    private = [
        name
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            n.startswith("dagster._")
            for n in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
            )
        )
    ]
    assert private == []


def test_fault_knobs_live_only_in_the_testing_package() -> None:
    """The product's backend and worker carry no fault or slowness settings."""
    knobs = ("fail_every_nth_row", "seconds_per_chunk", "stuck_pending", "pending_seconds")
    found = [
        name
        for name, path in MODULES.items()
        if not name.startswith("embed_assets.testing")
        and any(knob in path.read_text() for knob in knobs)
    ]
    assert found == []


def test_the_package_is_typed_and_versioned() -> None:
    """`py.typed` ships with the package, and `__version__` is set."""
    import embed_assets

    assert (PACKAGE / "py.typed").exists()
    assert embed_assets.__version__
