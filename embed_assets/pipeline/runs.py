"""The runs of the instance a sensor must wait for."""

import dagster as dg

_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def run_materializing(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The id of an unfinished run that materializes `key`, if any."""
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_IN_PROGRESS), limit=100):
        if run.asset_selection and key in run.asset_selection:
            return run.run_id
    return None
