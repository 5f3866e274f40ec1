"""What `dg scaffold defs embed_assets.EmbeddingPipelineComponent <name>` writes."""

from typing import Any

import dagster as dg

_ATTRIBUTES: dict[str, Any] = {
    "corpus": "docs.jsonl",
    "id_column": "id",
    "text_column": "content",
    "model": "lexical-hash",
    "backend": {"type": "local", "workdir": ".embed-assets"},
    "store": {"type": "duckdb", "path": ".embed-assets/embeddings.duckdb"},
}

_SAMPLE = (
    '{"id": "1", "content": "Dagster assets keep data fresh."}\n'
    '{"id": "2", "content": "Batch jobs embed many texts at once."}\n'
)


class EmbeddingPipelineScaffolder(dg.Scaffolder):
    """Writes a `defs.yaml` for one pipeline and a two-line sample corpus beside it."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        """Writes the files into the new component's folder."""
        import yaml

        folder = request.target_path
        folder.mkdir(parents=True, exist_ok=True)
        template = {
            "type": "embed_assets.EmbeddingPipelineComponent",
            "attributes": {"name": folder.name.replace("-", "_"), **_ATTRIBUTES},
        }
        (folder / "defs.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
        if not (folder / "docs.jsonl").exists():
            (folder / "docs.jsonl").write_text(_SAMPLE)
