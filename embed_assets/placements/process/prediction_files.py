"""Joining prediction files to a submission's rows by content hash, and upserting them.

Prediction files are read one at a time and upserted as they are read, so memory is bounded by
a file, not by the submission. Rows are matched by content hash (recomputed from the echoed
instance, or the Gemini key), never by position. A BigQuery prediction table bound for a store
that declares a warehouse (`store.base.Warehouse`) is landed there with SQL, and a legacy file
bound for a store whose writer lands files itself (`store.base.FileWriter`: DuckDB's, in one
statement): their vectors never pass through Python.
"""

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from embed_assets.bigquery.client import is_bigquery_uri
from embed_assets.corpus.hashing import content_hashes, hash_prefix
from embed_assets.jobs.settings import EmbeddingTarget
from embed_assets.models.catalog import model_spec, vector_dimension
from embed_assets.predictions.lines import PredictionBatch, RequestSchema
from embed_assets.predictions.readers import (
    local_prediction_file,
    read_prediction_file,
    read_prediction_object,
)
from embed_assets.staging.base import Storage
from embed_assets.store.base import (
    POSITION_COLUMNS,
    EmbeddingStore,
    FileWriter,
    embedding_rows,
    keys_and_positions,
    store_warehouse,
)


def _batch_hashes(batch: PredictionBatch, submission: EmbeddingTarget) -> list[str]:
    if model_spec(submission.model).schema is RequestSchema.GEMINI:
        return batch.keys
    return content_hashes(
        batch.contents,
        batch.titles,
        model=submission.model,
        task_type=submission.task_type,
        output_dimensionality=submission.output_dimensionality,
    )


def shorten(vectors: npt.NDArray[np.float32], dimension: int) -> npt.NDArray[np.float32]:
    """Cuts vectors longer than asked for to `dimension` values and L2-normalizes them again.

    The embedding models Vertex serves are trained so that a vector's leading values are an
    embedding of their own (the service shortens them the same way for
    `output_dimensionality`); some Gemini batch jobs were seen to ignore it.
    """
    cut = np.ascontiguousarray(vectors[:, :dimension], dtype=np.float32)
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return np.divide(cut, norms, out=np.zeros_like(cut), where=norms > 0)


class PredictionFiles:
    """Joins prediction files to a submission's rows by content hash and upserts them.

    Attributes:
        landed: hashes whose vector is in the store now.
        failed_reason: hashes that failed, with the reason (a later success removes them).
        shortened: vectors that came back longer than asked for and were cut to the dimension.
    """

    def __init__(
        self, *, submission: EmbeddingTarget, store: EmbeddingStore, submitted: pd.DataFrame
    ) -> None:
        """Prepares the join.

        Args:
            submission: the submission the files belong to (or the settings they were made
                with).
            store: the embedding table.
            submitted: the manifest rows planned for submission (`id, content_hash`, and the
                position columns of chunk rows).
        """
        self.submission = submission
        self.store = store
        places = [name for name in POSITION_COLUMNS if name in submitted.columns]
        self.submitted = submitted[["id", "content_hash", *places]]
        # ids grouped by hash, laid out flat: the ids of hash k are ids[starts[k]:starts[k + 1]]
        codes, uniques = pd.factorize(submitted["content_hash"].to_numpy())
        order = np.argsort(codes, kind="stable")
        self.hash_index = pd.Index(uniques)
        self.ids = submitted["id"].to_numpy(dtype=object)[order]
        # the ids' places in their documents, in the same order (None: whole documents)
        self.positions = submitted[places].iloc[order].reset_index(drop=True) if places else None
        self.counts = np.bincount(codes, minlength=len(uniques))
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self.dimension = vector_dimension(submission.model, submission.output_dimensionality)
        self.landed: set[str] = set()
        self.unreadable: list[str] = []  # `<file> line N ...` of lines no row could be told from
        self.failed_reason: dict[str, str] = {}
        self.shortened = 0  # vectors longer than asked for, cut to the dimension

    def land_all(
        self, staging: Storage, uris: Sequence[str]
    ) -> Iterator[tuple[str, tuple[int, int]]]:
        """Lands files one by one; yields each URI with (rows written, tokens).

        Through a writer that lands files itself (`store.base.FileWriter`: DuckDB's), each legacy
        file is one SQL statement
        and only a file it refuses is parsed here. Otherwise the next file is parsed on a
        second thread while this one is written to the store (both run mostly outside the
        GIL), so at most two files are in memory at once.
        """
        if not uris:
            return
        warehouse = store_warehouse(self.store)
        if warehouse is not None and all(map(is_bigquery_uri, uris)):
            pending = list(uris)
            with (
                warehouse.write_target(self.submission.pipeline) as (client, _),
                warehouse.scratch_keys(client, self.submitted) as keys,
            ):
                wanted = f"SELECT * FROM {keys}"  # loaded once, for every table
                while pending and (landed := self.land_table(pending[0], wanted)) is not None:
                    yield pending.pop(0), landed
            uris = pending  # a table without a `key` column: read it here, as files are
            if not uris:
                return
        with self.store.writer(self.submission.pipeline) as write:
            if isinstance(write, FileWriter) and self._in_sql(uris):  # a declared capability
                write.expect(keys_and_positions(self.submitted))
                for uri in uris:
                    yield uri, self.land_file(staging, uri, write)
            else:
                yield from self._land_read(staging, uris, write)

    def _in_sql(self, uris: Sequence[str]) -> bool:
        """Whether the files can be landed by SQL: legacy files (hashed from their text)."""
        legacy = model_spec(self.submission.model).schema is not RequestSchema.GEMINI
        return legacy and not any(map(is_bigquery_uri, uris))

    def land_file(self, staging: Storage, uri: str, writer: FileWriter) -> tuple[int, int]:
        """Lands one file with one SQL statement, else through the line parser; (rows, tokens)."""
        submission = self.submission
        with local_prediction_file(staging, uri) as path:
            landing = writer.land_file(
                path,
                hash_prefix=hash_prefix(
                    model=submission.model,
                    task_type=submission.task_type,
                    output_dimensionality=submission.output_dimensionality,
                ),
                model=submission.model,
                dimension=self.dimension,
            )
            if landing is not None:
                self.landed.update(landing.landed)
                return landing.written, landing.tokens
            batch = read_prediction_file(path, lenient=True)
        self.unreadable += [f"{uri} {line}" for line in batch.unreadable]
        return self.land_batch(batch, writer)

    def _land_read(
        self, staging: Storage, uris: Sequence[str], write: Callable[[pa.Table], int]
    ) -> Iterator[tuple[str, tuple[int, int]]]:
        """Lands files parsed here, the next one read on a second thread while this one lands."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prediction-reader") as pool:
            read = partial(read_prediction_object, staging, lenient=True)
            ahead = pool.submit(read, uris[0])
            for index, uri in enumerate(uris):
                batch = ahead.result()
                if index + 1 < len(uris):
                    ahead = pool.submit(read, uris[index + 1])
                self.unreadable += [f"{uri} {line}" for line in batch.unreadable]
                yield uri, self.land_batch(batch, write)

    def land_table(self, uri: str, wanted: str) -> tuple[int, int] | None:
        """Lands a BigQuery prediction table with SQL in BigQuery; returns (rows, tokens).

        Args:
            uri: the prediction table.
            wanted: a query giving `id, content_hash` of the submitted rows.

        Returns:
            None when the table cannot be joined in SQL (no `key` column).
        """
        warehouse = store_warehouse(self.store)
        if warehouse is None:
            return None
        result = warehouse.land_prediction_table(
            pipeline=self.submission.pipeline,
            predictions_uri=uri,
            wanted=wanted,
            model=self.submission.model,
            dimension=self.dimension,
        )
        if result is None:
            return None
        for content_hash, reason in result.outcomes:
            if reason:
                self.failed_reason[content_hash] = reason
            else:
                self.landed.add(content_hash)
        return result.written, result.tokens

    def land_batch(
        self, batch: PredictionBatch, write: Callable[[pa.Table], int]
    ) -> tuple[int, int]:
        """Upserts the good rows of one parsed file with `write`; returns (rows, tokens)."""
        submission, failed_reason = self.submission, self.failed_reason
        hashes = np.asarray(_batch_hashes(batch, submission), dtype=object)
        positions = self.hash_index.get_indexer(pd.Index(hashes))
        ok = batch.ok & (positions >= 0)
        vectors = batch.vectors
        if 0 < vectors.shape[1] < self.dimension:
            for content_hash in hashes[positions >= 0]:
                failed_reason.setdefault(
                    content_hash, f"vector has {vectors.shape[1]} values, expected {self.dimension}"
                )
            return 0, 0
        finite = np.isfinite(vectors).all(axis=1) if vectors.size else ok
        if vectors.shape[1] > self.dimension:
            vectors = shorten(vectors, self.dimension)
            self.shortened += int((ok & finite).sum())
        # an all-zero vector has no direction: cosine similarity with it is NaN
        nonzero = (vectors != 0).any(axis=1) if vectors.size else ok
        for row in np.flatnonzero(~batch.ok & (positions >= 0)):
            failed_reason[hashes[row]] = batch.statuses[row]
        for row in np.flatnonzero(ok & ~finite):
            failed_reason[hashes[row]] = "vector has non-finite values"
        for row in np.flatnonzero(ok & finite & ~nonzero):
            failed_reason[hashes[row]] = "vector is all zeros"
        good = np.flatnonzero(ok & finite & nonzero)
        if good.size == 0:
            return 0, 0
        # a line that repeats would write its ids twice: each text lands once per file
        _, first_lines = np.unique(hashes[good], return_index=True)
        good = good[np.sort(first_lines)]
        wanted = positions[good]
        repeats = self.counts[wanted]
        # the flat positions of every id of every wanted hash, without a Python loop
        first = np.repeat(self.starts[wanted], repeats)
        within = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        taken = first + within
        rows = embedding_rows(
            ids=self.ids[taken],
            content_hashes=np.repeat(hashes[good], repeats),
            vectors=np.repeat(vectors[good], repeats, axis=0),
            token_counts=np.repeat(batch.token_counts[good], repeats),
            model=submission.model,
            truncated=np.repeat(batch.truncated[good], repeats),
            positions=None if self.positions is None else self.positions.iloc[taken],
        )
        self.landed.update(hashes[good])
        written = write(rows)
        return written, int(batch.token_counts[good].sum())
