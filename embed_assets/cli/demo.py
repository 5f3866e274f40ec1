"""The demo: a corpus built from the standard library's docstrings, and a downstream asset.

The corpus needs no download: it parses the standard library's source files (no imports,
so nothing runs) and takes the first paragraph of the docstring of every public module-level
function and class. It is written once to `<workdir>/demo_corpus.jsonl`; `cli.definitions`
(what `workspace.yaml` loads) and `embed-assets run` build the demo pipeline over that file.
"""

import ast
import sysconfig
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

import embed_assets.pipeline.metadata as md
from embed_assets.backends.local.resource import LocalBatchBackend
from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline
from embed_assets.pipeline.names import pipeline_names
from embed_assets.store.duckdb import DuckDBEmbeddingStore

DEMO_PIPELINE = "stdlib_docs"
DEMO_CORPUS_FILE = "demo_corpus.jsonl"
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_SKIPPED_PARTS = {
    "test",
    "tests",
    "idlelib",
    "lib2to3",
    "tkinter",
    "turtledemo",
    "site-packages",
    "ensurepip",
    "venv",
    "__pycache__",
    "pydoc_data",
}


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def _public_definitions(body: list[ast.stmt]) -> list[tuple[str, Definition]]:
    """Returns public module-level functions and classes, and the public methods of those classes."""
    found: list[tuple[str, Definition]] = []
    for node in body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name.startswith("_"):
            continue
        found.append((node.name, node))
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(
                    member, ast.FunctionDef | ast.AsyncFunctionDef
                ) and not member.name.startswith("_"):
                    found.append((f"{node.name}.{member.name}", member))
    return found


def stdlib_docstrings(*, limit: int | None = None) -> pd.DataFrame:
    """Returns the documented public functions, classes and methods of the standard library.

    Args:
        limit: keep only the first `limit` documents (sorted by id).

    Returns:
        Columns `id` (`module.name` or `module.Class.method`), `title` (the name) and
        `content` (the docstring's first paragraph).
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    rows: list[tuple[str, str, str]] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if _SKIPPED_PARTS & set(parts) or any(p.startswith("_") for p in parts):
            continue
        module = ".".join(parts)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for name, node in _public_definitions(tree.body):
            doc = ast.get_docstring(node)
            paragraph = _first_paragraph(doc) if doc else ""
            if len(paragraph) >= 20:
                rows.append((f"{module}.{name}", name, paragraph))
    frame = pd.DataFrame(rows, columns=["id", "title", "content"]).drop_duplicates("id")
    frame = frame.sort_values("id").reset_index(drop=True)
    return frame.head(limit) if limit is not None else frame


def nearest_neighbours(
    vectors: np.ndarray, *, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Returns, per row, the indices and cosine similarities of its `k` nearest other rows."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    k = min(k, max(len(unit) - 1, 0))
    indices = np.zeros((len(unit), k), dtype=np.int64)
    scores = np.zeros((len(unit), k), dtype=np.float32)
    for start in range(0, len(unit), chunk):
        sims = unit[start : start + chunk] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf  # a document is not its own neighbour
        top = np.argpartition(-sims, k, axis=1)[:, :k] if k < sims.shape[1] else np.argsort(-sims)
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)[:, :k]
        indices[start : start + chunk] = top
        scores[start : start + chunk] = np.take_along_axis(sims, top, axis=1)
    return indices, scores


NEIGHBOUR_COLUMNS = {
    "id": "a document of the embedding table",
    "rank": "1 for its nearest neighbour",
    "neighbour_id": "the neighbour's id",
    "similarity": "cosine similarity, -1 to 1",
}


def build_neighbours_asset(
    *,
    embeddings_key: dg.AssetKey,
    pipeline_name: str,
    store_key: str = "embedding_store",
    k: int = 5,
) -> dg.AssetsDefinition:
    """Builds a downstream asset: the `k` nearest neighbours of each document, as a table."""

    @dg.asset(
        key=dg.AssetKey(pipeline_names(pipeline_name).asset_path("nearest_neighbours")),
        deps=[embeddings_key],
        group_name=pipeline_name,
        required_resource_keys={store_key},
        kinds={"duckdb"},
        description=f"The {k} nearest neighbours (cosine) of every document in the embedding table.",
    )
    def nearest_neighbours_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store: DuckDBEmbeddingStore = getattr(context.resources, store_key)
        table = store.read(pipeline_name)
        ids = table["id"].to_numpy()
        matrix = (
            np.stack(list(table["embedding"])).astype(np.float32)
            if len(table)
            else np.zeros((0, 1), np.float32)
        )
        index, score = nearest_neighbours(matrix, k=k)
        result = pd.DataFrame(
            {
                "id": np.repeat(ids, index.shape[1]),
                "rank": np.tile(np.arange(1, index.shape[1] + 1), len(ids)),
                "neighbour_id": ids[index.reshape(-1)] if index.size else [],
                "similarity": score.reshape(-1),
            }
        )
        target = f"{pipeline_names(pipeline_name).table}__neighbours"
        with store.connect() as con:
            con.register("result", result)
            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM result")
            columns = [(str(c[0]), str(c[1])) for c in con.execute(f"DESCRIBE {target}").fetchall()]
        preview = result[result["rank"] == 1].head(5)
        context.log.info(f"wrote {len(result)} neighbour rows for {len(ids)} documents to {target}")
        return dg.MaterializeResult(
            metadata={
                md.ROW_COUNT: dg.MetadataValue.int(len(result)),
                md.TABLE_NAME: dg.MetadataValue.text(f"{Path(store.path).resolve()}:{target}"),
                md.COLUMN_SCHEMA: dg.MetadataValue.table_schema(
                    md.column_schema(columns, NEIGHBOUR_COLUMNS)
                ),
                md.PREVIEW: dg.MetadataValue.md(
                    md.markdown_table(preview, ["id", "neighbour_id", "similarity"])
                ),
            }
        )

    return nearest_neighbours_asset


def demo_corpus_file(workdir: Path) -> Path:
    """Writes the standard library's docstrings to `<workdir>/demo_corpus.jsonl` once.

    An existing file is left as it is: it may hold the user's edits.
    """
    path = workdir / DEMO_CORPUS_FILE
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".jsonl.partial")
        stdlib_docstrings().to_json(partial, orient="records", lines=True, force_ascii=False)
        partial.replace(path)
    return path


def demo_pipeline(
    *, workdir: Path, model: str | None = None, sensor_interval_seconds: int = 5
) -> EmbeddingPipeline:
    """Returns the demo pipeline over the standard library's docstrings, kept in a file."""
    return EmbeddingPipeline(
        name=DEMO_PIPELINE,
        corpus=str(demo_corpus_file(workdir)),
        model=model,
        title_column="title",
        sensor_interval_seconds=sensor_interval_seconds,
    )


def build_definitions(
    pipeline: EmbeddingPipeline, *, workdir: Path, with_neighbours: bool = True
) -> dg.Definitions:
    """Returns a pipeline's Definitions on the embedded default (local backend, DuckDB)."""
    defs = pipeline.build_definitions(
        backend=LocalBatchBackend(workdir=str(workdir)),
        store=DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb")),
    )
    if not with_neighbours:
        return defs
    neighbours = build_neighbours_asset(
        embeddings_key=pipeline.embeddings_key,
        pipeline_name=pipeline.name,
        store_key=pipeline.names.store_key,
    )
    return dg.Definitions.merge(defs, dg.Definitions(assets=[neighbours]))
