"""The passages `embed-assets search` prints: a found chunk's text, read from its corpus.

The table holds vectors and places, not texts. `embed-assets run` remembers each pipeline's
corpus source and columns in the work folder; a search reads the documents it found from
there and cuts each best chunk out of its document by its character offsets.
"""

import json
from pathlib import Path
from typing import Any

import pandas as pd

PIPELINES_FOLDER = "pipelines"
PASSAGE_CHARACTERS = 160  # shown of each passage, on one line


def remember_source(workdir: Path, pipeline: Any) -> None:
    """Keeps where `pipeline` (an `EmbeddingPipeline`) reads its corpus, for later searches."""
    if not isinstance(pipeline.corpus, str):
        return
    folder = workdir / PIPELINES_FOLDER
    folder.mkdir(exist_ok=True)
    columns = pipeline.columns
    (folder / f"{pipeline.name}.json").write_text(
        json.dumps(
            {
                "corpus": pipeline.corpus,
                "id_column": columns.id_column,
                "text_column": columns.text_column,
                "title_column": columns.title_column,
                "encoding": pipeline.encoding,
            }
        )
    )


def passages(workdir: Path, pipeline: str, found: pd.DataFrame) -> dict[str, str]:
    """The text of each found chunk, by chunk id (empty when its corpus is not known here).

    `found` is `store.search`'s answer: `id, document_id, chunk_start, chunk_end` per row.
    """
    from embed_assets.corpus.validation import validate_corpus
    from embed_assets.errors import EmbedAssetsError
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

    chunks = found[found["chunk_start"].notna()]
    remembered = workdir / PIPELINES_FOLDER / f"{pipeline}.json"
    if chunks.empty or not remembered.exists():
        return {}
    source = EmbeddingPipeline(name=pipeline, **json.loads(remembered.read_text()))
    try:  # the pipeline's own reading (file, gs://, bq://; its encoding) and validation
        raw = source.load_corpus()
        rows = validate_corpus(raw, source.columns, source=source.describe_source()).rows
    except (EmbedAssetsError, OSError):  # the corpus moved or changed shape: still answer
        return {}
    wanted = set(chunks["document_id"].astype(str))
    texts = {
        str(i): str(t)
        for i, t in zip(rows["id"], rows["content"], strict=True)
        if str(i) in wanted and isinstance(t, str)
    }
    shown = {}
    places = zip(
        chunks["id"].astype(str),
        chunks["document_id"].astype(str),
        chunks["chunk_start"].astype(int).tolist(),
        chunks["chunk_end"].astype(int).tolist(),
        strict=True,
    )
    for chunk_id, document_id, start, end in places:
        text = texts.get(document_id)
        if text is not None:
            passage = " ".join(text[start:end].split())
            cut = len(passage) > PASSAGE_CHARACTERS
            shown[chunk_id] = passage[:PASSAGE_CHARACTERS] + ("…" if cut else "")
    return shown
