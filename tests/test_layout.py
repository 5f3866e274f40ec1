"""The package's layout: no import cycles, modules of a few hundred lines, no private imports."""

import ast
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "embed_assets"
# a module past this many non-blank lines is worth a look (does it hold two subjects?);
# past twice as many, it is refused
LOOK_AT_LINES = 400
# the order of layers (DESIGN.md "Layers"): a module never imports one of a higher layer
LAYERS = {
    "embed_assets.errors": 0,
    "embed_assets.human": 0,
    "embed_assets.sql_text": 0,
    "embed_assets.staging": 0,
    "embed_assets.bigquery": 0,
    "embed_assets.predictions": 1,
    "embed_assets.models": 2,
    "embed_assets.corpus": 3,
    "embed_assets.store": 3,
    "embed_assets.backends": 3,
    "embed_assets.jobs": 4,
    "embed_assets.placements": 4,
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


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of import nodes under `if TYPE_CHECKING:`: read by the type checker, never run."""
    return {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in node.body
        for child in ast.walk(statement)
    }


def _graph(*, run_time: bool = False) -> dict[str, set[str]]:
    """Edges module -> imported module, leaving out a package importing its own children.

    `run_time`: only the imports that run (not those under `if TYPE_CHECKING:`).
    """
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        type_only = _type_only(tree) if run_time else set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
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
    """A depth-first search over the import graph finds no module that reaches itself.

    A type-only import (a builder annotated with the class that builds it) is no cycle.
    """
    graph = _graph(run_time=True)
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
    """A module past 400 non-blank lines is a warning to look at it; past 800, a failure.

    The limit asks whether a module holds one subject; it is not a reason to split one.
    """
    sizes = {
        name: sum(1 for line in path.read_text().splitlines() if line.strip())
        for name, path in MODULES.items()
    }
    for name, lines in sorted(sizes.items()):
        if lines > LOOK_AT_LINES:
            warnings.warn(
                f"{name} has {lines} non-blank lines: does it hold more than one subject?",
                stacklevel=1,
            )
    assert {name: n for name, n in sizes.items() if n > 2 * LOOK_AT_LINES} == {}


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


# -- one lifecycle, one error family ------------------------------------------------------------

LIFECYCLE = ("embed_assets.jobs", "embed_assets.placements")
# the modules that define a backend, store or staging location as a protocol; every other
# module of those packages is one kind of them (`test_every_concrete_module_is_listed`)
PROTOCOLS = ("embed_assets.backends.base", "embed_assets.store.base", "embed_assets.staging.base")
CONCRETE = tuple(
    name
    for name in MODULES
    if name.startswith(("embed_assets.backends.", "embed_assets.store.", "embed_assets.staging."))
    and name not in PROTOCOLS
)
CONCRETE_CLASSES = {
    "VertexBatchBackend",
    "LocalBatchBackend",
    "DuckDBEmbeddingStore",
    "DuckDBWriter",
    "BigQueryEmbeddingStore",
    "BigQueryStorage",
    "GcsStorage",
    "LocalStorage",
}
MAX_FUNCTION_LINES = 80


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _nodes() -> list[tuple[str, ast.AST]]:
    return [
        (name, node)
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
    ]


def test_no_lifecycle_module_imports_a_concrete_backend_store_or_staging() -> None:
    """Planning, adopting, submitting, polling and landing see protocols only."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if _within(module, LIFECYCLE)
        for target in targets
        if _within(target, CONCRETE)
    ]
    assert wrong == []


# the two placements of a pipeline's rows: in this process (files DuckDB reads) and in the
# warehouse (SQL); what both use (labels, shard ranges, the RowPlacement seam) is jobs.rows
IN_PROCESS = ("embed_assets.placements.process",)
IN_WAREHOUSE = ("embed_assets.placements.bigquery",)


def test_neither_placement_imports_the_other() -> None:
    """The in-process diff and the warehouse's SQL share only what `jobs.rows` holds."""
    graph = _graph()
    wrong = [
        f"{module} imports {target}"
        for mine, theirs in ((IN_PROCESS, IN_WAREHOUSE), (IN_WAREHOUSE, IN_PROCESS))
        for module, targets in graph.items()
        if _within(module, mine)
        for target in targets
        if _within(target, theirs)
    ]
    assert wrong == []


def test_jobs_holds_only_what_both_placements_share() -> None:
    """No lifecycle module imports a placement's modules, but the handler's default one.

    `SubmissionHandler` plans in this process when it is given no placement.
    """
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if _within(module, ("embed_assets.jobs",)) and module != "embed_assets.jobs.handler"
        for target in targets
        if _within(target, ("embed_assets.placements",))
    ]
    assert wrong == []


def test_nothing_is_steered_by_the_class_of_a_backend_store_or_staging() -> None:
    """No `isinstance(x, VertexBatchBackend)` and the like: capabilities are declared."""
    found = [
        f"{name}:{node.lineno}"
        for name, node in _nodes()
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and len(node.args) == 2
        and CONCRETE_CLASSES & {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
    ]
    assert found == []


def test_no_assert_in_the_package() -> None:
    """`python -O` strips asserts: nothing may depend on one."""
    found = [f"{name}:{node.lineno}" for name, node in _nodes() if isinstance(node, ast.Assert)]
    assert found == []


def test_functions_are_at_most_80_lines() -> None:
    long = {
        f"{name}.{node.name}": node.end_lineno - node.lineno + 1
        for name, node in _nodes()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_every_exception_the_package_defines_or_raises_is_an_embed_assets_error() -> None:
    """One family: every exception class subclasses EmbedAssetsError, and no built-in one is
    raised (SystemExit ends the CLI; NotImplementedError marks an abstract method; a module's
    `__getattr__` raises AttributeError)."""
    import builtins
    import importlib
    import inspect

    from embed_assets.errors import EmbedAssetsError

    outside = []
    for name in MODULES:
        if name.endswith("__main__") or name.startswith("embed_assets.testing.bigquery_emulator"):
            continue  # scripts: running them is their point (the launcher runs on Python 3.13)
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not issubclass(value, EmbedAssetsError)
            ):
                outside.append(f"{name}.{value.__name__}")
    allowed = {"SystemExit", "NotImplementedError"}
    # a module's `__getattr__` must raise AttributeError for a name it does not have
    nodes = _nodes()
    lookups = {
        id(raised)
        for _, function in nodes
        if isinstance(function, ast.FunctionDef) and function.name == "__getattr__"
        for raised in ast.walk(function)
        if isinstance(raised, ast.Raise)
    }
    for name, node in nodes:
        if isinstance(node, ast.Raise) and id(node) in lookups:
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if (
                isinstance(raised, ast.Name)
                and isinstance(getattr(builtins, raised.id, None), type)
                and raised.id not in allowed
            ):
                outside.append(f"{name}:{node.lineno} raises {raised.id}")
    assert outside == []
