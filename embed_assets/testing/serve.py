"""`embed-assets emulator`: serve the Vertex, GCS and BigQuery emulators until interrupted."""

import argparse
import sys
from typing import Any


def add_emulator_command(commands: Any) -> None:
    """Adds the `emulator` command to the CLI's sub-parsers (`argparse` `add_subparsers()`)."""
    emulator = commands.add_parser(
        "emulator",
        help="serve a Vertex batch prediction emulator, a GCS emulator and a BigQuery emulator",
    )
    emulator.add_argument("--port", type=int, default=8790, help="REST port (default %(default)s)")
    emulator.add_argument("--gcs-url", help="use this running GCS emulator instead of starting one")
    emulator.add_argument(
        "--bucket", action="append", help="bucket to create (repeatable; default embed-assets)"
    )
    emulator.add_argument(
        "--no-bigquery",
        action="store_true",
        help="do not start the BigQuery emulator (it needs `make bigquery-emulator` first)",
    )
    emulator.add_argument("--bigquery-project", default="emulator", help="its first project")
    emulator.add_argument("--max-running-jobs", type=int, default=4)
    emulator.add_argument(
        "--local-model",
        default="lexical-hash",
        help="local model whose vectors are projected (lexical-hash or all-MiniLM-L6-v2)",
    )
    emulator.add_argument("--seconds-per-chunk", type=float, default=0.0)
    emulator.add_argument("--rows-per-file", type=int, default=10_000)
    emulator.set_defaults(func=serve_emulator)


def serve_emulator(args: argparse.Namespace) -> int:
    """Serves the Vertex emulator (and a GCS emulator) until interrupted."""
    import signal
    import threading

    from embed_assets.testing.bigquery_server import BigQueryEmulator
    from embed_assets.testing.emulator import VertexEmulator

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bigquery = None if args.no_bigquery else BigQueryEmulator(project=args.bigquery_project)
    if bigquery is not None:
        try:
            bigquery.start()
        except RuntimeError as error:
            print(f"embed-assets emulator: {error}", file=sys.stderr)
            return 1
    emulator = VertexEmulator(
        port=args.port,
        gcs_url=args.gcs_url,
        bigquery_url=bigquery.url if bigquery is not None else None,
        buckets=args.bucket or ["embed-assets"],
        max_running_jobs=args.max_running_jobs,
        local_model=args.local_model,
        seconds_per_chunk=args.seconds_per_chunk,
        rows_per_file=args.rows_per_file,
    ).start()
    try:
        print(f"Vertex endpoint: {emulator.endpoint}")
        print(f"STORAGE_EMULATOR_HOST={emulator.gcs_url}", flush=True)
        if bigquery is not None:
            print(f"BIGQUERY_EMULATOR_HOST={bigquery.url}", flush=True)
        print(
            f"buckets: {', '.join(args.bucket or ['embed-assets'])}; vectors are emulated "
            f"({args.local_model} projected); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    finally:
        emulator.stop()
        if bigquery is not None:
            bigquery.stop()
    return 0
