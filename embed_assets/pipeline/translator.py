"""`AssetSpecTranslator`: the hook for shaping a pipeline's asset specs beyond its fields.

As dagster-dbt's `DagsterDbtTranslator` and dagster-fivetran's `DagsterFivetranTranslator`
do: the pipeline builds each asset's default `dg.AssetSpec` (key, group, owners, tags,
description, automation condition) from its fields, hands it to the translator, and builds the
asset with what comes back. The sensor, the checks and the landing read the keys from the
translated specs, so any key works.
"""

import dagster as dg


class AssetSpecTranslator:
    """Changes the asset specs of a pipeline; subclass it and override `get_asset_spec`.

    Example:
        ```python
        class Translator(AssetSpecTranslator):
            def get_asset_spec(self, *, asset: str, spec: dg.AssetSpec) -> dg.AssetSpec:
                if asset == "embeddings":
                    return spec.replace_attributes(key=["warehouse", "doc_vectors"])
                return spec.merge_attributes(metadata={"team": "search"})

        EmbeddingPipeline(name="docs", corpus="docs.jsonl", translator=Translator())
        ```
    """

    def get_asset_spec(self, *, asset: str, spec: dg.AssetSpec) -> dg.AssetSpec:
        """Returns the spec the asset is built with.

        Args:
            asset: which asset: `source`, `corpus`, `embedding_batch_job` or `embeddings`.
            spec: the spec the pipeline's fields give it.
        """
        return spec
