"""Landing a BigQuery prediction table in SQL: the same checks and reasons as the Python landing."""

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from embed_assets import BigQueryEmbeddingStore
from embed_assets.bigquery.client import bigquery_client, load_arrow
from embed_assets.corpus.hashing import content_hashes
from embed_assets.placements.process.prediction_files import PredictionFiles
from embed_assets.predictions.lines import parse_prediction_lines
from embed_assets.staging.files import LocalStorage
from embed_assets.testing.fixtures import BigQueryTestSpace


class Target:
    """The pipeline settings landing needs."""

    pipeline = "docs"
    model = "text-embedding-005"
    task_type = None
    output_dimensionality = 2  # vectors of two values keep the table readable


def _hash(name: str) -> str:
    """The content hash landing computes for the text `text <name>` (what `key` carries)."""
    (digest,) = content_hashes(
        [f"text {name}"], [None], model=Target.model, task_type=None, output_dimensionality=2
    )
    return digest


def _row(name: str, values: list[float] | None, status: str = "", field: str = "values") -> dict:
    stats = {"token_count": 4, "truncated": False}
    predictions = [] if values is None else [{"embeddings": {"statistics": stats, field: values}}]
    return {"content": f"text {name}", "key": _hash(name),
            "predictions": orjson.dumps(predictions).decode(), "status": status}  # fmt: skip


ROWS = [
    _row("h-good", [0.6, 0.8]),
    _row("h-capital", [1.0, 0.0], field="Values"),
    _row("h-zero", [0.0, 0.0]),
    _row("h-long", [1.0, 2.0, 3.0]),
    _row("h-failed", None, status="3: the text is not allowed"),
    _row("h-other", [0.5, 0.5]),  # a row no wanted id needs
]
WANTED = pd.DataFrame(
    {
        "id": ["a", "a2", "b", "c", "d", "e", "f"],
        "content_hash": [
            _hash(n)
            for n in ("h-good", "h-good", "h-capital", "h-zero", "h-long", "h-failed", "h-gone")
        ],
    }
)
EXPECTED_REASONS = {
    _hash("h-zero"): "vector is all zeros",
    _hash("h-long"): "vector has 3 values, expected 2",
    _hash("h-failed"): "3: the text is not allowed",
}


@pytest.fixture
def predictions(bigquery_emulator: BigQueryTestSpace) -> str:
    project, dataset = bigquery_emulator.project, bigquery_emulator.dataset("out")
    with bigquery_client(project=project) as client:
        client.create_dataset(f"{project}.{dataset}")
        columns = ["content", "key", "predictions", "status"]
        rows = pa.table({c: pa.array([r[c] for r in ROWS], pa.string()) for c in columns})
        load_arrow(client, f"{project}.{dataset}.predictions", rows)
    return f"bq://{project}.{dataset}.predictions"


def test_sql_landing_writes_good_vectors_under_every_id_and_names_each_failure(
    bigquery_emulator: BigQueryTestSpace, predictions: str
) -> None:
    store = BigQueryEmbeddingStore(
        project=bigquery_emulator.project, dataset=bigquery_emulator.dataset("emb")
    )
    result = store.warehouse().land_prediction_table(
        pipeline="docs",
        predictions_uri=predictions,
        wanted=WANTED,
        model="text-embedding-005",
        dimension=2,
    )
    assert result is not None
    assert result.written == 3 and result.tokens == 8
    assert dict((h, r) for h, r in result.outcomes if r) == EXPECTED_REASONS
    table = store.read("docs").set_index("id").sort_index()
    assert table.index.tolist() == ["a", "a2", "b"]
    assert [list(v) for v in table["embedding"]] == [[0.6, 0.8], [0.6, 0.8], [1.0, 0.0]]
    assert table["content_hash"].tolist() == [_hash("h-good"), _hash("h-good"), _hash("h-capital")]


def test_sql_and_python_landing_agree(
    bigquery_emulator: BigQueryTestSpace, predictions: str
) -> None:
    """The same prediction rows landed through SQL and through the Python reader."""
    dataset = bigquery_emulator.dataset
    in_sql = PredictionFiles(
        submission=Target(),
        store=BigQueryEmbeddingStore(project=bigquery_emulator.project, dataset=dataset("sql")),
        submitted=WANTED,
    )
    list(in_sql.land_all(LocalStorage("/nonexistent"), [predictions]))
    in_python = PredictionFiles(
        submission=Target(),
        store=BigQueryEmbeddingStore(project=bigquery_emulator.project, dataset=dataset("py")),
        submitted=WANTED,
    )
    with in_python.store.writer("docs") as write:
        lines = (orjson.dumps(r) for r in ROWS)
        in_python.land_batch(parse_prediction_lines(lines, lenient=True), write)
    assert in_sql.landed == in_python.landed == {_hash("h-good"), _hash("h-capital")}
    assert in_sql.failed_reason == EXPECTED_REASONS
    # the line parser compares lengths with earlier rows, not with the model's dimension
    long = _hash("h-long")
    assert in_python.failed_reason.pop(long) == "vector has 3 values, earlier rows 2"
    assert in_python.failed_reason == {k: v for k, v in EXPECTED_REASONS.items() if k != long}
    sql_rows = in_sql.store.read("docs").sort_values("id")
    python_rows = in_python.store.read("docs").sort_values("id")
    assert sql_rows["id"].tolist() == python_rows["id"].tolist()
    for left, right in zip(sql_rows["embedding"], python_rows["embedding"], strict=True):
        assert list(left) == pytest.approx(list(right), rel=1e-6)
