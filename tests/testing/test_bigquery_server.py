"""The BigQuery emulator's server lists and drops what a test made, so it can serve a session."""

from embed_assets.bigquery.client import bigquery_client
from embed_assets.testing.fixtures import BigQueryTestSpace


def test_the_datasets_a_test_made_in_any_project_are_listed_and_dropped(
    bigquery_emulator: BigQueryTestSpace,
) -> None:
    server = bigquery_emulator.server
    before = server.datasets()
    made = {
        (bigquery_emulator.project, bigquery_emulator.dataset("mine")),
        ("another-project", bigquery_emulator.dataset("theirs")),
    }
    for project, dataset in made:
        with bigquery_client(project=project) as client:
            client.create_dataset(dataset)
            client.query(f"CREATE TABLE {dataset}.t AS SELECT 'a' AS id").result()
    assert server.datasets() - before == made
    server.drop_datasets(made)
    assert server.datasets() == before
