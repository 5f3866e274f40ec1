"""`embed-assets`: run a pipeline headless, search, show or cancel jobs, serve the Vertex emulator."""

import argparse
import atexit
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from embed_assets.cli.disk import disk_full_message
from embed_assets.cli.passages import passages, remember_source
from embed_assets.cli.summary import print_summary
from embed_assets.cli.workdir import DEFAULT_WORKDIR, WORKDIR_ENV, prepare_workdir
from embed_assets.pipeline.names import BATCH_JOB_ASSET, pipeline_names
from embed_assets.testing.serve import add_emulator_command

LAST_PIPELINE_FILE = "last_pipeline"
LAST_PIPELINE_HELP = "pipeline name (default: the one last run in this work folder)"


def _remember_pipeline(workdir: Path, name: str) -> None:
    (workdir / LAST_PIPELINE_FILE).write_text(name + "\n")


def _pipeline_name(args: argparse.Namespace, workdir: Path) -> str:
    """`--name`, else the pipeline last run in the work folder, else the demo's."""
    if args.name:
        return str(args.name)
    remembered = workdir / LAST_PIPELINE_FILE
    if remembered.exists() and remembered.read_text().strip():
        return remembered.read_text().strip()
    return "stdlib_docs"


def _pipeline_from_args(args: argparse.Namespace, workdir: Path) -> Any:
    from embed_assets.cli.demo import demo_pipeline
    from embed_assets.pipeline.embedding_pipeline import EmbeddingPipeline

    if args.corpus is None:
        return demo_pipeline(workdir=workdir, model=args.model)
    return EmbeddingPipeline(
        name=args.name,
        corpus=str(Path(args.corpus).resolve())
        if not args.corpus.startswith("gs://")
        else args.corpus,
        model=args.model,
        id_column=args.id_column,
        text_column=args.text_column,
        title_column=args.title_column,
        chunking=_chunking(args),
        max_prompts_per_job=args.max_prompts_per_job,
        max_prompts_per_refresh=args.max_prompts_per_refresh,
        max_estimated_cost_usd=args.max_estimated_cost_usd,
        encoding=args.encoding,
        sensor_interval_seconds=5,
    )


def _chunking(args: argparse.Namespace) -> Any:
    from embed_assets.corpus.chunking import Chunking
    from embed_assets.errors import ConfigError

    if args.chunk_tokens is None:
        if args.chunk_overlap:
            raise ConfigError("--chunk-overlap needs --chunk-tokens")
        return None
    return Chunking(max_tokens=args.chunk_tokens, overlap_tokens=args.chunk_overlap)


def _definitions(pipeline: Any, workdir: Path) -> Any:
    from embed_assets.cli.demo import build_definitions

    return build_definitions(
        pipeline, workdir=workdir, with_neighbours=pipeline.name == "stdlib_docs"
    )


def _search(pipeline_name: str, query: str, k: int, workdir: Path) -> list[tuple[str, float]]:
    from embed_assets.models.registry import load_local_model
    from embed_assets.store.duckdb import DuckDBEmbeddingStore

    store = DuckDBEmbeddingStore(path=str(workdir / "embeddings.duckdb"))
    model_name = store.model_of(pipeline_name)
    if model_name is None:
        raise SystemExit(
            f"the table of pipeline {pipeline_name} is empty: run `embed-assets run` first"
        )
    model = load_local_model(model_name)
    vector = model.embed([query], task_type="RETRIEVAL_QUERY").vectors[0]
    found = store.search(pipeline_name, vector, k=k)
    scores = found["similarity"].astype(float).tolist()
    shown = passages(workdir, pipeline_name, found)
    return [
        (_found_label(row, shown.get(str(row.id))), score)
        for row, score in zip(found.itertuples(), scores, strict=True)
    ]


def _found_label(row: Any, passage: str | None) -> str:
    """A document's id, and for a chunk which one, where, and its text when the corpus is known.

    `doc  (doc#3, characters 10-90)` and, on the next line, the passage.
    """
    import pandas as pd

    if row.id == row.document_id or pd.isna(row.chunk_start):
        return str(row.id)
    label = f"{row.document_id}  ({row.id}, characters {row.chunk_start}-{row.chunk_end})"
    return f"{label}\n         “{passage}”" if passage else label


def cmd_run(args: argparse.Namespace) -> int:
    """Runs a pipeline end to end and prints what it did."""
    workdir = prepare_workdir(Path(args.workdir))
    import dagster as dg

    from embed_assets.cli.runner import run_pipeline
    from embed_assets.errors import EmbedAssetsError
    from embed_assets.pipeline.config import RefreshConfig

    started = time.monotonic()
    try:
        pipeline = _pipeline_from_args(args, workdir)
        _remember_pipeline(workdir, pipeline.name)
        remember_source(workdir, pipeline)
        defs = _definitions(pipeline, workdir)
        progress = (
            (lambda line: None) if args.json else (lambda line: print(f"· {line}", flush=True))
        )
        with dg.DagsterInstance.get() as instance:
            summary = run_pipeline(
                defs=defs,
                pipeline=pipeline,
                instance=instance,
                progress=progress,
                refresh=RefreshConfig(
                    allow_rejected_rows=args.allow_rejected_rows,
                    allow_large_delete=args.allow_large_delete,
                    allow_empty_corpus=args.allow_empty_corpus,
                    allow_over_budget=args.allow_over_budget,
                ),
                log_level="INFO" if args.verbose else "CRITICAL",
            )
    except (EmbedAssetsError, ValueError) as error:  # one line; --verbose for the logs
        print(
            f"embed-assets run: {disk_full_message(error, workdir=workdir) or error}",
            file=sys.stderr,
        )
        return 1
    summary.wall_seconds = round(time.monotonic() - started, 2)
    sample = (
        _search(pipeline.name, args.query, 5, workdir)
        if args.query and summary.table_rows
        else None
    )
    if args.json:
        print(orjson.dumps({**summary.to_json(), "workdir": str(workdir)}).decode())
    else:
        print_summary(summary, sample, args.query)
        print(f"\nDagster UI: {_ui_command(workdir)}")
    errors = [
        name for name, ok in summary.checks.items() if not ok and name not in summary.warnings
    ]
    return 0 if summary.failed == 0 and not errors else 2


def _ui_command(workdir: Path) -> str:
    """The command that opens this work folder's instance in the Dagster UI."""
    if workdir == (Path.cwd() / DEFAULT_WORKDIR).resolve() and Path("Makefile").exists():
        return "make dev"
    dagster = Path(sys.executable).with_name("dagster")
    return (
        f"DAGSTER_HOME={workdir / 'dagster'} {WORKDIR_ENV}={workdir} {dagster} dev "
        "-m embed_assets.cli.definitions"
    )


def cmd_search(args: argparse.Namespace) -> int:
    """Prints the documents closest to a query (for chunks: the best one of each)."""
    workdir = prepare_workdir(Path(args.workdir))
    for doc_id, score in _search(_pipeline_name(args, workdir), args.query, args.k, workdir):
        print(f"{score:.3f}  {doc_id}")
    return 0


def _load_definitions(target: str) -> Any:
    """Loads `dg.Definitions` from a Python file or module (`path.py`, `pkg.mod` or `pkg.mod:attr`)."""
    import importlib
    import importlib.util

    import dagster as dg

    name, _, attribute = target.partition(":")
    if name.endswith(".py"):
        spec = importlib.util.spec_from_file_location("user_definitions", name)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load definitions from {name}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(name)
    if attribute:
        return getattr(module, attribute)
    found = [v for v in vars(module).values() if isinstance(v, dg.Definitions)]
    if len(found) != 1:
        raise SystemExit(f"{target}: expected one dg.Definitions object, found {len(found)}")
    return found[0]


def _backend_for(args: argparse.Namespace, workdir: Path, name: str) -> Any:
    """Returns the pipeline's batch backend: from --definitions, else the local one in workdir."""
    if not args.definitions:
        from embed_assets.backends.local.resource import LocalBatchBackend

        return LocalBatchBackend(workdir=str(workdir))
    defs = _load_definitions(args.definitions)
    key = args.backend_key or pipeline_names(name).backend_key
    try:
        return defs.resources[key]
    except KeyError:
        raise SystemExit(
            f"{args.definitions} binds no resource {key!r} (use --backend-key)"
        ) from None


def _latest_submission_and_backend(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """Returns the pipeline's latest submission and its backend (None, said, if none yet).

    The Dagster instance is the work folder's, unless --definitions runs with DAGSTER_HOME set.
    """
    import dagster as dg

    from embed_assets.pipeline.history import latest_submission

    home = os.environ.get("DAGSTER_HOME")
    workdir = prepare_workdir(Path(args.workdir))
    if args.definitions and home:
        os.environ["DAGSTER_HOME"] = home
    name = _pipeline_name(args, workdir)
    backend = _backend_for(args, workdir, name)
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetKey(pipeline_names(name).asset_path(BATCH_JOB_ASSET))
        submission = latest_submission(instance, key)
    if submission is None:
        print(f"no submission yet for pipeline {name} in {os.environ['DAGSTER_HOME']}")
        return None
    return submission, backend


def cmd_status(args: argparse.Namespace) -> int:
    """Prints the jobs of the latest submission and their states."""
    from embed_assets.jobs.handler import SubmissionHandler

    found = _latest_submission_and_backend(args)
    if found is None:
        return 1
    submission, backend = found
    print(
        f"submission {submission.submission_id}: {submission.prompts} prompts, "
        f"{len(submission.jobs)} jobs"
    )
    handler = SubmissionHandler(backend=backend, submission=submission)
    for job, status in zip(submission.jobs, handler.statuses(), strict=True):
        print(f"  shard {job.shard}: {status.describe()}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancels the unfinished jobs of the latest submission."""
    from embed_assets.jobs.handler import SubmissionHandler

    found = _latest_submission_and_backend(args)
    if found is None:
        return 1
    submission, backend = found
    handler = SubmissionHandler(backend=backend, submission=submission)
    cancelled = handler.cancel_unfinished(log=print)
    print(
        f"submission {submission.submission_id}: cancelled {len(cancelled)} of "
        f"{len(submission.jobs)} jobs" + ("" if cancelled else " (every job had already finished)")
    )
    return 0


def _refresh_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that allow one refresh what the pipeline refuses by default."""
    parser.add_argument(
        "--allow-rejected-rows",
        action="store_true",
        help="go on although more than max_rejected_fraction of the corpus was rejected",
    )
    parser.add_argument(
        "--allow-large-delete",
        action="store_true",
        help="delete more than max_deleted_fraction of the table in this refresh",
    )
    parser.add_argument(
        "--allow-empty-corpus",
        action="store_true",
        help="let a corpus with no row that can be embedded empty the table",
    )
    parser.add_argument(
        "--allow-over-budget",
        action="store_true",
        help="submit this refresh although it is above max_prompts_per_refresh or "
        "max_estimated_cost_usd",
    )


def _common_options(*, top: bool) -> argparse.ArgumentParser:
    """`--workdir` and `--verbose`, accepted before or after the subcommand."""
    options = argparse.ArgumentParser(add_help=False)
    # on a subcommand the default is SUPPRESS, so it only overrides what came before it
    options.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR if top else argparse.SUPPRESS,
        help="folder for the Dagster instance, staging and the table (default .embed-assets)",
    )
    options.add_argument(
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show Dagster's logs and full tracebacks",
    )
    return options


class _VersionAction(argparse.Action):
    """`--version`: the package's version, its Python, and whether its accelerators are built.

    Computed when asked for: the extensions are loaded only then.
    """

    def __init__(self, option_strings: list[str], dest: str, **options: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **options)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import platform

        from embed_assets import __version__
        from embed_assets.corpus.accelerator import compiled_extensions

        built = compiled_extensions()
        speed = f"compiled accelerators: {', '.join(built)}" if built else "pure Python"
        parser.exit(
            message=f"embed-assets {__version__} (Python {platform.python_version()}; {speed})\n"
        )


def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="embed-assets", description=__doc__, parents=[_common_options(top=True)]
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show the version and whether it is compiled"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = _common_options(top=False)

    run = commands.add_parser(
        "run", help="run a pipeline end to end (the demo by default)", parents=[common]
    )
    run.add_argument("--corpus", help="JSONL, CSV or Parquet file (or gs:// URI) to embed")
    run.add_argument(
        "--name", default="corpus", help="pipeline name for --corpus (default %(default)s)"
    )
    run.add_argument("--id-column", default="id")
    run.add_argument("--text-column", default="content")
    run.add_argument("--title-column")
    run.add_argument("--model", help="local model: all-MiniLM-L6-v2 or lexical-hash")
    run.add_argument(
        "--chunk-tokens",
        type=int,
        help="split each document into chunks of at most this many tokens (one row each)",
    )
    run.add_argument(
        "--chunk-overlap",
        type=int,
        default=0,
        help="tokens of a chunk's predecessor repeated at its start (with --chunk-tokens)",
    )
    run.add_argument("--max-prompts-per-job", type=int)
    run.add_argument(
        "--max-prompts-per-refresh",
        type=int,
        help="refuse a refresh that would submit more prompts (see --allow-over-budget)",
    )
    run.add_argument(
        "--max-estimated-cost-usd",
        type=float,
        help="refuse a refresh whose estimated cost is higher (see --allow-over-budget)",
    )
    run.add_argument(
        "--encoding", default="utf-8", help="text encoding of a CSV or JSONL corpus (default utf-8)"
    )
    run.add_argument(
        "--query", default="parse a date from a string", help="sample search printed after the run"
    )
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _refresh_flags(run)
    run.set_defaults(func=cmd_run)

    search = commands.add_parser("search", help="the rows closest to a query", parents=[common])
    search.add_argument("query")
    search.add_argument("--name", help=LAST_PIPELINE_HELP)
    search.add_argument("-k", type=int, default=5)
    search.set_defaults(func=cmd_search)

    for verb, helptext, func in (
        ("status", "jobs of the latest submission", cmd_status),
        ("cancel", "cancel the latest submission's unfinished jobs", cmd_cancel),
    ):
        sub = commands.add_parser(verb, help=helptext, parents=[common])
        sub.add_argument("--name", help=LAST_PIPELINE_HELP)
        sub.add_argument(
            "--definitions",
            help="your definitions (file.py, module or module:attr) to take the backend from; "
            "the Dagster instance is then $DAGSTER_HOME if set",
        )
        sub.add_argument(
            "--backend-key", help="the backend's resource key (default: <name>_embedding_backend)"
        )
        sub.set_defaults(func=func)

    add_emulator_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `embed-assets`: one line per error with its cause (`--verbose`: all)."""
    args = build_parser().parse_args(argv)
    atexit.register(_quiet_native_teardown)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"embed-assets {args.command}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as error:
        if args.verbose:
            raise
        full = disk_full_message(error, workdir=Path(getattr(args, "workdir", ".")))
        cause = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"embed-assets {args.command}: "
            + (full or f"{type(error).__name__}: {cause} (--verbose shows the traceback)"),
            file=sys.stderr,
        )
        return 1


def _quiet_native_teardown() -> None:
    """Silences what native bindings print while the interpreter tears down.

    DuckDB's nanobind binding lists "leaked" objects at exit. Everything the program had to
    say is flushed first; only the teardown after this point goes to /dev/null.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
