"""Data the benchmark generates for itself, cached under the bench work folder."""

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embed_assets.corpus.hashing import content_hashes
from embed_assets.store.base import embedding_rows
from embed_assets.store.duckdb import DuckDBEmbeddingStore

MODEL = "text-embedding-005"
TASK_TYPE = "RETRIEVAL_DOCUMENT"
PIPELINE = "bench"
LINES_PER_FILE = 10_000
_WORDS = [
    "batch",
    "embedding",
    "vector",
    "table",
    "corpus",
    "refresh",
    "lineage",
    "sensor",
    "asset",
    "model",
    "text",
    "search",
    "document",
    "query",
    "index",
    "store",
    "cloud",
    "storage",
    "job",
    "prediction",
    "output",
    "input",
    "shard",
    "hash",
    "row",
]


def _texts(count: int, *, chars: int, seed: int) -> list[str]:
    """Distinct texts of about `chars` characters: an id-bearing prefix and random words."""
    rng = np.random.default_rng(seed)
    pool = " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), size=chars * 40))
    starts = rng.integers(0, len(pool) - chars, size=count)
    return [f"document {i}: {pool[s : s + chars - 16]}" for i, s in enumerate(starts)]


def _ready(folder: Path) -> bool:
    return (folder / ".complete").exists()


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def prediction_files(
    root: Path, *, lines: int, per_file: int = LINES_PER_FILE, dimension: int = 768
) -> Path:
    """Legacy prediction files (as text-embedding-005 writes them) and the manifest they answer.

    The folder holds `predictions_NNNNN.jsonl` files of `per_file` lines and `manifest.parquet`
    (`id, content_hash, plan, shard`). Vectors are float32 values printed the way Vertex prints
    them; 1,000 distinct vectors are cycled, which costs the parser exactly what distinct ones do.
    """
    folder = root / f"predictions-{lines}-{per_file}-{dimension}"
    if _ready(folder):
        return folder
    _fresh(folder)
    texts = _texts(lines, chars=200, seed=11)
    _write_predictions(folder, texts, per_file=per_file, dimension=dimension)
    hashes = content_hashes(
        texts, [None] * lines, model=MODEL, task_type=TASK_TYPE, output_dimensionality=None
    )
    manifest = pd.DataFrame(
        {
            "id": [f"doc-{i}" for i in range(lines)],
            "content_hash": hashes,
            "plan": "submit",
            "shard": 0,
        }
    )
    pq.write_table(
        pa.Table.from_pandas(manifest, preserve_index=False), folder / "manifest.parquet"
    )
    (folder / ".complete").touch()
    return folder


def _write_predictions(
    folder: Path, texts: list[str], *, per_file: int = LINES_PER_FILE, dimension: int = 768
) -> None:
    """Writes one legacy prediction line per text, `per_file` lines a file, into `folder`."""
    rng = np.random.default_rng(7)
    vectors = [
        orjson.dumps(v.tolist()) for v in rng.standard_normal((1000, dimension)).astype(np.float32)
    ]
    for start in range(0, len(texts), per_file):
        with open(folder / f"predictions_{start // per_file:05d}.jsonl", "wb") as out:
            for i in range(start, min(start + per_file, len(texts))):
                instance = orjson.dumps({"content": texts[i], "task_type": TASK_TYPE})
                out.write(
                    b'{"instance":' + instance + b',"predictions":[{"embeddings":{"statistics":'
                    b'{"token_count":'
                    + str(40 + i % 20).encode()
                    + b',"truncated":false},"values":'
                    + vectors[i % 1000]
                    + b'}}],"status":""}\n'
                )


def landing_submission(corpus_folder: Path) -> Path:
    """A submission of the corpus in `corpus_folder` planned against its store, and its output.

    The folder `<corpus_folder>/landing` holds `manifest.parquet` (every row of the corpus,
    the new ones in shard 0) and one prediction line of 768 values for each new text, as
    text-embedding-005 writes them.
    """
    from embed_assets import EmbeddingPipeline
    from embed_assets.placements.process.plan import plan_refresh, write_manifest
    from embed_assets.store.base import write_stored_keys

    folder = corpus_folder / "landing"
    if _ready(folder):
        return folder
    _fresh(folder)
    pipeline = EmbeddingPipeline(
        name=PIPELINE,
        corpus=str(corpus_folder / "corpus.parquet"),
        model=MODEL,
        task_type=TASK_TYPE,
    )
    store = DuckDBEmbeddingStore(path=str(corpus_folder / "store.duckdb"))
    with tempfile.TemporaryDirectory() as work:
        prepared = pipeline.prepare_file(Path(work) / "corpus.parquet")
        keys = Path(work) / "stored.parquet"
        write_stored_keys(store, PIPELINE, keys)
        plan = plan_refresh(prepared, keys, folder=Path(work))
        prompts = plan.prompts
        shards = pa.table({"content_hash": prompts["content_hash"], "shard": [0] * len(prompts)})
        write_manifest(plan, shards, folder / "manifest.parquet")
    _write_predictions(folder, prompts["content"].tolist())
    (folder / ".complete").touch()
    return folder


def corpus(root: Path, *, rows: int, new_rows: int | None = None) -> Path:
    """A corpus of `rows` texts of about 500 characters, and a store that already holds most.

    The folder holds `corpus.parquet` (`id, content`) and `store.duckdb`, whose table has every
    row but `new_rows`, spread evenly (one in a hundred by default), with 8-d vectors: diffing
    reads only ids and hashes.
    """
    new_rows = rows // 100 if new_rows is None else new_rows
    folder = root / (f"corpus-{rows}" if new_rows == rows // 100 else f"corpus-{rows}-{new_rows}")
    if _ready(folder):
        return folder
    _fresh(folder)
    texts = _texts(rows, chars=500, seed=3)
    ids = [f"doc-{i:08d}" for i in range(rows)]
    # row groups of 100,000 rows, as data warehouses export them (not one 500 MB group)
    pq.write_table(
        pa.table({"id": ids, "content": texts}), folder / "corpus.parquet", row_group_size=100_000
    )
    keep = np.arange(rows) % (rows // new_rows) != 0
    _store_rows(folder, pd.DataFrame({"id": ids, "content": texts})[keep].reset_index(drop=True))
    (folder / ".complete").touch()
    return folder


def _store_rows(folder: Path, rows: pd.DataFrame, *, positions: list[str] | None = None) -> None:
    """Writes `rows` (`id, content` and any `positions` columns) to `store.duckdb` in `folder`.

    Their hashes are the pipeline's; their vectors 8-d ones: diffing reads only ids, hashes
    and places.
    """
    hashes = content_hashes(
        rows["content"],
        [None] * len(rows),
        model=MODEL,
        task_type=TASK_TYPE,
        output_dimensionality=None,
    )
    store = DuckDBEmbeddingStore(path=str(folder / "store.duckdb"))
    step = 200_000
    for start in range(0, len(rows), step):
        part = rows.iloc[start : start + step]
        store.upsert(
            PIPELINE,
            embedding_rows(
                ids=part["id"].to_numpy(dtype=object),
                content_hashes=hashes[start : start + step],
                vectors=np.ones((len(part), 8), dtype=np.float32),
                token_counts=np.full(len(part), 100),
                model=MODEL,
                positions=part[positions] if positions else None,
            ),
        )


CHUNK_TOKENS = 400  # about 500 characters a chunk: ~10 chunks of a 5,000-character document


def _documents(count: int, *, chars: int, seed: int) -> list[str]:
    """Documents of about `chars` characters: paragraphs of sentences of random words."""
    rng = np.random.default_rng(seed)
    words = np.asarray(_WORDS, dtype=object)
    sentences = [
        " ".join(words[rng.integers(0, len(words), size=rng.integers(6, 18))]).capitalize() + "."
        for _ in range(20_000)
    ]
    paragraphs = [
        " ".join(sentences[j] for j in rng.integers(0, len(sentences), size=rng.integers(2, 6)))
        for _ in range(20_000)
    ]
    documents = []
    for i in range(count):
        picked = rng.integers(0, len(paragraphs), size=chars // 250 + 2)
        text = f"Document {i}.\n\n" + "\n\n".join(paragraphs[j] for j in picked)
        documents.append(text[:chars].rstrip())
    return documents


def chunked_corpus(root: Path, *, documents: int, stored_fraction: float = 0.99) -> Path:
    """Documents of ~5,000 characters, and a store holding `stored_fraction` of their chunks.

    The folder holds `corpus.parquet` (`id, content`: the documents), `chunks.parquet` (the
    chunks' `content`, for the baseline) and `store.duckdb`, whose table has every chunk row
    but one in a hundred (8-d vectors: diffing reads only ids, hashes and places).
    """
    from embed_assets.corpus import pure_splitter
    from embed_assets.corpus.chunk_rows import chunk_documents
    from embed_assets.corpus.chunking import Chunking

    # the data depend on the chunking rule: a change to either of its sources makes them anew
    sources = [Path(pure_splitter.__file__), Path(pure_splitter.__file__).with_name("_splitter.c")]
    rule = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:8]
    folder = root / f"chunked-{documents}-{rule}"
    if _ready(folder):
        return folder
    _fresh(folder)
    texts = _documents(documents, chars=5_000, seed=5)
    ids = [f"doc-{i:07d}" for i in range(documents)]
    pq.write_table(
        pa.table({"id": ids, "content": texts}), folder / "corpus.parquet", row_group_size=10_000
    )
    chunks = chunk_documents(
        pd.DataFrame({"id": ids, "content": texts, "title": None}),
        chunking=Chunking(max_tokens=CHUNK_TOKENS),
        model=MODEL,
    )
    pq.write_table(pa.table({"content": chunks["content"].tolist()}), folder / "chunks.parquet")
    keep = np.arange(len(chunks)) % round(1 / (1 - stored_fraction)) != 0
    kept = chunks[keep].reset_index(drop=True)
    _store_rows(folder, kept, positions=["document_id", "chunk_index", "chunk_start", "chunk_end"])
    (folder / ".complete").touch()
    return folder
