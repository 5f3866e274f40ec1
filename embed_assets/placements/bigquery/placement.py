"""`WarehousePlacement`: rows stay in the warehouse, every step that touches them is SQL."""

from embed_assets.backends.base import BatchBackend
from embed_assets.errors import ConfigError
from embed_assets.jobs.record import Submission
from embed_assets.jobs.settings import SubmissionSettings
from embed_assets.placements.bigquery.corpus import WarehouseCorpus
from embed_assets.placements.bigquery.landing import WarehouseLanding
from embed_assets.placements.bigquery.planning import WarehousePlanning
from embed_assets.store.base import EmbeddingStore, Warehouse, store_warehouse


def _warehouse(store: EmbeddingStore) -> Warehouse:
    warehouse = store_warehouse(store)
    if warehouse is None:
        raise ConfigError(f"store {store.table_ref('')} declares no warehouse to work in")
    return warehouse


class WarehousePlacement:
    """Rows in BigQuery: the corpus asset stages them, planning and landing are SQL jobs."""

    warehouse = True

    def planning(
        self,
        *,
        corpus: WarehouseCorpus,
        backend: BatchBackend,
        store: EmbeddingStore,
        settings: SubmissionSettings,
    ) -> WarehousePlanning:
        """The rows of a corpus staged in BigQuery."""
        if not isinstance(corpus, WarehouseCorpus):  # an IO manager hands over what it held
            raise ConfigError(
                f"pipeline {settings.pipeline} plans in the warehouse, but its corpus asset "
                "gave rows, not a staged table: materialize the corpus asset again"
            )
        return WarehousePlanning(
            corpus, backend=backend, store=store, warehouse=_warehouse(store), settings=settings
        )

    def landing(
        self, *, submission: Submission, backend: BatchBackend, store: EmbeddingStore
    ) -> WarehouseLanding:
        """The rows of a warehouse-native submission."""
        return WarehouseLanding(submission, backend=backend, warehouse=_warehouse(store))
