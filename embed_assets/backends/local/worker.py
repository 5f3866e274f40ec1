"""The detached worker that runs one local batch job: `python -m ... <job folder>`.

It waits for a free slot (PENDING), embeds the request file in chunks (RUNNING, with counts
updated as it goes), and writes prediction files in Vertex's legacy or Gemini layout, rows
shuffled, with a non-empty `status` on rows that failed. Any crash ends the job FAILED.

`WorkerHooks` are the worker's extension points; the production worker uses the no-op
defaults, and `embed_assets.testing` installs hooks that inject faults and slowness.
"""

import faulthandler
import fcntl
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from embed_assets.backends.local.engine import (
    ROWS_PER_OUTPUT_FILE,
    JobRecord,
    LocalJobEngine,
    process_start_ticks,
    utc_now_rfc3339,
)
from embed_assets.errors import EmbedAssetsError
from embed_assets.models.base import LocalEmbeddingModel
from embed_assets.models.projected import ProjectedModel
from embed_assets.models.registry import load_local_model
from embed_assets.predictions.lines import Prompt, RequestLine, parse_request_line
from embed_assets.staging.files import storage_for

CHUNK_ROWS = 512


class Cancelled(EmbedAssetsError):
    """The job was asked to stop."""


class WorkerHooks:
    """Points where a job's run can be observed or changed; the defaults change nothing."""

    def before_running(self, check_cancel: Callable[[], None]) -> None:
        """Runs while the job is PENDING, before it waits for a running slot."""

    def after_chunk(self, rows_done: int) -> None:
        """Runs after each chunk of rows has been embedded and counted."""

    def row_status(self, position: int, status: str) -> str:
        """Returns the status of the row at `position` (0-based input order); "" means ok."""
        return status

    def output_lines(self, lines: list[bytes]) -> list[bytes]:
        """Returns the prediction lines to write (a job that dies early writes fewer)."""
        return lines

    def dimensionality(self, requested: int | None) -> int | None:
        """Returns the dimensionality the model is run with (None: its full length)."""
        return requested

    def errors_apart(self) -> bool:
        """True: failed legacy rows go to `errors_*` files or an errors table, not inline."""
        return False

    def records_output_info(self) -> bool:
        """False: the job writes its output but its record gets no `outputInfo`."""
        return True

    def final_state(
        self, state: str, error: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any] | None]:
        """Returns the state (and error) the job ends in, once its output is written."""
        return state, error


@contextmanager
def running_slot(slots_dir: Path, slots: int, on_wait: Callable[[], None]) -> Iterator[None]:
    """Holds one of `slots` file locks; the lock goes away with the process if it dies."""
    slots_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(max(slots, 1)):
            handle: IO[bytes] = open(slots_dir / f"slot-{index}.lock", "a+b")  # noqa: SIM115 (held across yield)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        on_wait()
        time.sleep(0.5)


def _prediction_line(
    prompt: Prompt,
    task_type: str | None,
    raw: bytes,
    vector: Any,
    tokens: int,
    truncated: bool,
    status: str,
    gemini: bool,
    token_field: str = "usageMetadata",
) -> bytes:
    if gemini:  # an EmbedContentResponse: `truncated` at its top level, no statistics
        line: dict[str, Any] = {"key": prompt.key, "request": orjson.loads(raw)["request"]}
        if status:
            line["status"] = status
            line["processed_time"] = datetime.now(UTC).isoformat()
        else:
            # `tokenCount` (an int64 string) as live gemini-embedding-001 jobs were seen to
            # write it, or `usageMetadata.promptTokenCount` as the protos' EmbedContentResponse
            counted = (
                {"tokenCount": str(tokens)}
                if token_field == "tokenCount"
                else {"usageMetadata": {"promptTokenCount": tokens}}
            )
            line["response"] = {"embedding": {"values": vector}, **counted, "truncated": truncated}
        return orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY)
    instance = orjson.loads(raw)
    predictions = (
        []
        if status
        else [
            {
                "embeddings": {
                    "statistics": {"token_count": tokens, "truncated": truncated},
                    "values": vector,
                }
            }
        ]
    )
    return orjson.dumps(
        {"instance": instance, "predictions": predictions, "status": status},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def _error_line(line: bytes) -> bytes:
    """A failed legacy row as an `errors_*` line: the instance and `error {code, message}`."""
    data = orjson.loads(line)
    code, _, message = str(data["status"]).partition(": ")
    error = {"code": int(code), "message": message} if code.isdigit() else {"message": code}
    return orjson.dumps({"instance": data["instance"], "error": error})


def run_job(engine: LocalJobEngine, job_id: str, hooks: WorkerHooks | None = None) -> None:
    """Runs one job to a terminal state."""
    hooks = hooks or WorkerHooks()

    def note_self(rec: JobRecord) -> None:
        # the creator notes the pid too, but it may have been killed right after starting us
        rec.setdefault("workerPid", os.getpid())
        rec.setdefault("workerStartTicks", process_start_ticks(os.getpid()))

    record = engine.update(job_id, note_self)

    def check_cancel() -> None:
        if engine.get(job_id).get("cancelRequested"):
            raise Cancelled

    slots_dir = Path(record["slotsDir"])
    try:
        hooks.before_running(check_cancel)
        with running_slot(slots_dir, int(record.get("maxRunningJobs", 1)), check_cancel):
            engine.update(job_id, _set_running)
            _embed(engine, job_id, record, hooks, check_cancel)
    except Cancelled:
        _finish(engine, job_id, "JOB_STATE_CANCELLED")


def _set_running(record: JobRecord) -> None:
    record["state"] = "JOB_STATE_RUNNING"
    record["startTime"] = utc_now_rfc3339()


def _finish(
    engine: LocalJobEngine, job_id: str, state: str, error: dict[str, Any] | None = None
) -> None:
    def change(record: JobRecord) -> None:
        record["state"] = state
        record["endTime"] = utc_now_rfc3339()
        if error is not None:
            record["error"] = error

    engine.update(job_id, change)


def _embed(
    engine: LocalJobEngine,
    job_id: str,
    record: JobRecord,
    hooks: WorkerHooks,
    check_cancel: Callable[[], None],
) -> None:
    # as on Vertex: legacy models read their options from the job's modelParameters, Gemini
    # embedding from each line's embed_content_config (it does not read modelParameters)
    params = record.get("modelParameters") or {}
    model = _model_for(record)
    raw_lines = _request_lines(record["inputConfig"])
    parsed = [parse_request_line(line) for line in raw_lines]
    gemini = bool(raw_lines) and b'"request"' in raw_lines[0][:200]
    total = len(parsed)
    engine.update(job_id, lambda r: r.update(totalCount=str(total)))
    out: list[bytes] = []
    failed_lines: list[bytes] = []  # failed rows written apart, as the protos describe
    ok = failed = 0
    done = 0
    for positions in _chunks(parsed):
        check_cancel()
        chunk = [parsed[position] for position in positions]
        prompts = [line.prompt for line in chunk]
        task_type = chunk[0].task_type if chunk else None
        dims, auto_truncate = _options(chunk, params, gemini=gemini)
        dims = hooks.dimensionality(dims)
        try:
            result = model.embed(
                [p.content for p in prompts],
                titles=[p.title or "" for p in prompts],
                task_type=task_type,
                output_dimensionality=dims,
            )
            vectors = result.vectors
            errors = ["" for _ in prompts]
        except Exception as error:  # a chunk that cannot be embedded fails its rows, not the job
            vectors = np.zeros((len(prompts), 1), dtype=np.float32)
            result = None
            errors = [f"embedding failed: {error}" for _ in prompts]
        for offset, (position, prompt) in enumerate(zip(positions, prompts, strict=True)):
            tokens = int(result.token_counts[offset]) if result is not None else 0
            cut = bool(result.truncated[offset]) if result is not None else False
            status = errors[offset] or _cut_status(
                cut and not auto_truncate, tokens, model.max_input_tokens
            )
            status = hooks.row_status(position, status)
            line = _prediction_line(
                prompt,
                chunk[offset][1],
                raw_lines[position],
                vectors[offset],
                tokens,
                cut,
                status,
                gemini,
                (record.get("emulation") or {}).get("tokenField", "usageMetadata"),
            )
            if status and not gemini and hooks.errors_apart():
                failed_lines.append(_error_line(line))
            else:
                out.append(line)
            if status:
                failed += 1
            else:
                ok += 1
        done += len(chunk)
        _record_counts(engine, job_id, ok, failed)
        hooks.after_chunk(done)
    check_cancel()
    rows_per_file = int(record.get("rowsPerOutputFile") or ROWS_PER_OUTPUT_FILE)
    _write_outputs(engine, record, job_id, hooks.output_lines(out), rows_per_file, failed_lines)
    if not hooks.records_output_info():
        engine.update(job_id, lambda rec: rec.pop("outputInfo", None))
    state, job_error = "JOB_STATE_SUCCEEDED", None
    if failed and not ok:
        state, job_error = "JOB_STATE_FAILED", {"code": 3, "message": "every row failed"}
    elif failed:
        state = "JOB_STATE_PARTIALLY_SUCCEEDED"
    _finish(engine, job_id, *hooks.final_state(state, job_error))


def _chunks(lines: list[RequestLine]) -> list[list[int]]:
    """The lines' positions in chunks of one set of options each, longest text first.

    Chunks hold at most `CHUNK_ROWS` lines. The model pads each batch to its longest text and sorts only the texts it is given:
    chunks cut in this order pad as little as one call with every text would.
    """

    def options(position: int) -> tuple[str, str, str]:
        line = lines[position]
        return str(line.task_type), str(line.output_dimensionality), str(line.auto_truncate)

    def length(position: int) -> int:
        prompt = lines[position].prompt
        return len(prompt.content) + len(prompt.title or "")

    order = sorted(range(len(lines)), key=lambda position: (options(position), -length(position)))
    chunks: list[list[int]] = []
    for position in order:
        if (
            not chunks
            or len(chunks[-1]) >= CHUNK_ROWS
            or options(chunks[-1][0]) != options(position)
        ):
            chunks.append([])
        chunks[-1].append(position)
    return chunks


def _cut_status(refused: bool, tokens: int, limit: int) -> str:
    """The status of a row the model would cut where autoTruncate is false ("" otherwise)."""
    if not refused:
        return ""
    return (
        f"3: input of {tokens} tokens is longer than the model's limit of {limit} "
        "and autoTruncate is false"
    )


def _options(
    chunk: list[RequestLine], params: dict[str, Any], *, gemini: bool
) -> tuple[int | None, bool]:
    """(output dimensionality, auto-truncate) of a chunk, read where Vertex reads them."""
    if gemini:
        if not chunk:
            return None, True
        return chunk[0].output_dimensionality, chunk[0].auto_truncate is not False
    return params.get("outputDimensionality"), bool(params.get("autoTruncate", True))


def _request_lines(config: dict[str, Any]) -> list[bytes]:
    """The job's instances as JSON lines: from its JSONL file, or its BigQuery table."""
    if config.get("bigquerySource"):
        from embed_assets.backends.local.bigquery_io import read_prompt_rows  # BigQuery jobs only

        return read_prompt_rows(config["bigquerySource"]["inputUri"])
    input_uri = config["gcsSource"]["uris"][0]
    with storage_for(input_uri).open_read(input_uri) as stream:
        return [line.rstrip(b"\n") for line in stream if line.strip()]


def _model_for(record: JobRecord) -> LocalEmbeddingModel:
    """Returns the job's model: a local one, or a local one projected to an emulated model."""
    local_model = record.get("localModel") or record["model"].rsplit("/", 1)[-1]
    model = load_local_model(local_model)
    emulation = record.get("emulation")
    if emulation:
        return ProjectedModel(
            model,
            name=emulation["model"],
            dimension=emulation["dimension"],
            max_input_tokens=emulation.get("maxInputTokens"),
        )
    return model


def _record_counts(engine: LocalJobEngine, job_id: str, ok: int, failed: int) -> None:
    def change(record: JobRecord) -> None:
        record["completionStats"] = {
            "successfulCount": str(ok),
            "failedCount": str(failed),
            "incompleteCount": "0",
        }

    engine.update(job_id, change)


def _write_outputs(
    engine: LocalJobEngine,
    record: JobRecord,
    job_id: str,
    lines: list[bytes],
    rows_per_file: int,
    errors: list[bytes],
) -> None:
    random.Random(int(job_id)).shuffle(lines)  # output order is not input order, as on Vertex
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    destination = record["outputConfig"].get("bigqueryDestination")
    if destination and not (lines or errors):
        return  # a job that stopped before any row wrote no table
    if destination:
        from embed_assets.backends.local.bigquery_io import write_prediction_rows

        model = record["model"].rsplit("/", 1)[-1]
        info = write_prediction_rows(
            destination["outputUri"], lines, model=model, stamp=stamp, errors=errors
        )
        engine.update(job_id, lambda rec: rec.update(outputInfo=info))
        return
    prefix = record["outputConfig"]["gcsDestination"]["outputUriPrefix"]
    storage = storage_for(prefix)
    directory = f"{prefix.rstrip('/')}/prediction-model-{stamp}"
    files = -(-len(lines) // rows_per_file)  # none for a job that stopped before any row
    per_file = -(-len(lines) // files) if files else 0
    for index in range(files):
        part = lines[index * per_file : (index + 1) * per_file]
        payload = b"\n".join(part) + (b"\n" if part else b"")
        storage.write_bytes(f"{directory}/predictions_{index:05d}.jsonl", payload)
    if errors:
        storage.write_bytes(f"{directory}/errors_00000.jsonl", b"\n".join(errors) + b"\n")

    def note_output(rec: JobRecord) -> None:
        rec["outputInfo"] = {"gcsOutputDirectory": directory}

    engine.update(job_id, note_output)


def main(argv: list[str], hooks: WorkerHooks | None = None) -> int:
    """Runs the job in the folder named by argv[1].

    A fatal error (a crash in compiled code, an abort) or SIGTERM writes every thread's
    traceback to the worker's log (stderr) first, so a job its worker left unfinished says why.
    """
    faulthandler.enable()
    faulthandler.register(signal.SIGTERM, chain=True)
    folder = Path(argv[1])
    engine = LocalJobEngine(folder.parent)
    job_id = folder.name
    try:
        run_job(engine, job_id, hooks)
    except Exception as error:
        traceback.print_exc()
        _finish(
            engine, job_id, "JOB_STATE_FAILED", {"code": 13, "message": f"worker error: {error}"}
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
