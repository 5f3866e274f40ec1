"""BigQuery input and output for the job worker: a prompts table in, a prediction table out.

As the service does: each prompts-table row is one instance (`content`, `task_type`, `title`,
and any other column, echoed back); each prediction row holds the instance's columns,
`predictions` as a JSON string and `status` ("" when the row succeeded). The output goes to
the table `bigqueryDestination.outputUri` names, or, when it names only a project (or a
dataset), to a new `prediction_<model>_<time>` dataset (or `predictions_<time>` table).
"""

from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
from google.cloud import bigquery

from embed_assets.bigquery.client import SCHEME, bigquery_client, load_arrow, parse_table_uri
from embed_assets.errors import BackendError
from embed_assets.staging.bigquery_dataset import read_arrow

OUTPUT_COLUMNS = ("predictions", "status")


def read_prompt_rows(uri: str) -> list[bytes]:
    """Returns each row of a prompts table as a JSON instance (NULL columns left out)."""
    address = parse_table_uri(uri)
    with bigquery_client(project=address.project) as client:
        table = read_arrow(client, address.qualified)
    return [
        orjson.dumps({k: v for k, v in row.items() if v is not None}) for row in table.to_pylist()
    ]


def _destination(client: bigquery.Client, uri: str, model: str, stamp: str) -> tuple[str, str, str]:
    """Returns (project, dataset, table) for the output; creates a dataset the service would."""
    body = uri.removeprefix(SCHEME)
    parts = body.split(".")
    if len(parts) >= 3:
        address = parse_table_uri(uri)
        return address.project, address.dataset, address.table
    time = stamp.replace("-", "_").replace(":", "_").replace(".", "_").rstrip("Z")
    if len(parts) == 2:
        return parts[0], parts[1], f"predictions_{time}"
    dataset = f"prediction_{model.replace('-', '_')}_{time}"
    client.create_dataset(f"{parts[0]}.{dataset}", exists_ok=True)
    return parts[0], dataset, "predictions"


def write_prediction_rows(
    uri: str,
    lines: list[bytes],
    *,
    model: str,
    stamp: str,
    errors: Sequence[bytes] = (),
) -> dict[str, Any]:
    """Writes legacy prediction lines as rows of a new BigQuery table; returns `outputInfo`.

    `errors` (`errors_*` lines: instance and `error {code, message}`) go to an errors table
    beside it, named as the service names it (`errors` or `errors_<time>`), with the
    instance's columns and an `errors` STRUCT column.

    Raises:
        google.api_core.exceptions.Conflict: the destination table exists already (the
            service refuses that too).
    """
    rows = []
    for line in lines:
        data = orjson.loads(line)
        instance = {k: None if v is None else str(v) for k, v in data["instance"].items()}
        predictions = orjson.dumps(data["predictions"]).decode()
        rows.append({**instance, "predictions": predictions, "status": data["status"]})
    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in OUTPUT_COLUMNS]
    columns = (columns or ["content"]) + list(OUTPUT_COLUMNS)
    arrow = pa.table({c: pa.array([row.get(c) for row in rows], pa.string()) for c in columns})
    with bigquery_client(project=uri.removeprefix(SCHEME).split(".")[0]) as client:
        project, dataset, table = _destination(client, uri, model, stamp)
        name = f"{project}.{dataset}.{table}"
        schema = [bigquery.SchemaField(c, "STRING") for c in columns]
        client.create_table(bigquery.Table(name, schema=schema))  # Conflict if it exists
        load_arrow(client, name, arrow, schema=schema)
        if errors:
            beside = (
                "errors" + table.removeprefix("predictions")
                if table.startswith("predictions")
                else f"{table}_errors"
            )
            _write_errors(client, f"{project}.{dataset}.{beside}", errors)
    return {"bigqueryOutputDataset": f"{SCHEME}{project}.{dataset}", "bigqueryOutputTable": table}


ERRORS_FIELD = bigquery.SchemaField(
    "errors",
    "RECORD",
    fields=[bigquery.SchemaField("code", "INT64"), bigquery.SchemaField("message", "STRING")],
)


def _write_errors(client: bigquery.Client, name: str, lines: Sequence[bytes]) -> None:
    """Writes failed instances as the errors table: their columns and an `errors` STRUCT."""
    rows = []
    for line in lines:
        data = orjson.loads(line)
        instance = {k: None if v is None else str(v) for k, v in data["instance"].items()}
        status = data["error"]
        rows.append(
            {**instance, "errors": {"code": status.get("code"), "message": status["message"]}}
        )
    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if c != "errors"]
    schema = [bigquery.SchemaField(c, "STRING") for c in columns] + [ERRORS_FIELD]
    client.create_table(bigquery.Table(name, schema=schema))
    failed = client.insert_rows(client.get_table(name), rows)
    if failed:
        raise BackendError(f"could not write the errors table {name}: {failed[:3]}")
