"""JSONL corpora read with every value as written, a batch of lines at a time.

orjson parses a batch of lines in one call; a batch it cannot read exactly (a bad line,
another encoding, an integer past 64 bits) is read line by line, which names the line.
A large file is parsed in reader processes (`python -P -m embed_assets.corpus.jsonl`),
each taking every n-th batch, so the caller validates and hashes one batch while the next
ones are parsed.
"""

import codecs
import contextlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Generator, Iterator
from itertools import chain, count
from operator import methodcaller
from pathlib import Path
from typing import IO, Any, cast

import orjson
import pandas as pd
import pyarrow as pa

from embed_assets.corpus.validation import CorpusError

# a batch of lines holds at most about this many bytes (fewer documents when they are long:
# 100,000 documents of 5,000 characters took 891 MB at 16,384 a batch, 618 MB at 8,192)
BATCH_BYTES = 32 << 20
# a file this large is parsed in reader processes (smaller ones take less than their start)
READER_PROCESS_BYTES = 64 << 20
# parsing takes longer than what the caller does with a batch; one core is the caller's
READER_PROCESSES = max(0, min(2, (os.cpu_count() or 1) - 1))


def jsonl_records(path: Path, *, encoding: str = "utf-8") -> Iterator[dict[str, Any]]:
    """Each line's JSON object, as written (blank lines skipped); one batch in memory at a time.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    for batch in jsonl_batches(path, encoding=encoding):
        yield from batch


def jsonl_batches(
    path: Path, *, encoding: str = "utf-8", batch_lines: int = 16_384
) -> Iterator[list[dict[str, Any]]]:
    """The file's JSON objects, as written (blank lines skipped), up to `batch_lines` at a time.

    A batch of UTF-8 lines is parsed by orjson in one call; a batch that fails that (a bad
    line, another encoding, an integer past 64 bits) is read line by line, which names the
    line and reads such integers exactly.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    for records in _batches(path, encoding, batch_lines, part=0, parts=1):
        if records:
            yield records


def _batches(
    path: Path, encoding: str, batch_lines: int, *, part: int, parts: int
) -> Iterator[list[dict[str, Any]]]:
    """The records of every `parts`-th batch of lines, from the `part`-th (0-based).

    The lines of the other batches are read past, not parsed; a batch of blank lines gives
    no record.
    """
    utf8 = codecs.lookup(encoding).name == "utf-8"  # orjson reads (and checks) UTF-8 bytes
    first = 1
    with path.open("rb") as stream:
        for index, lines in enumerate(_line_batches(stream, batch_lines)):
            records = None
            if index % parts == part:
                records = _parsed_at_once(lines) if utf8 else None
                if records is None:
                    records = [
                        _record(line, first + i, encoding, utf8=utf8)
                        for i, line in enumerate(lines)
                        if line.strip()
                    ]
            first += len(lines)
            del lines  # the batch is in memory once, as records
            if records is not None:
                yield records


def _line_batches(stream: IO[bytes], batch_lines: int) -> Iterator[list[bytes]]:
    """The stream's lines, up to `batch_lines` at a time and about `BATCH_BYTES` at most.

    A batch of long documents is held as bytes, then as text twice (Python's and Arrow's)
    while it is validated and hashed: its size in bytes bounds the memory.
    """
    held: list[bytes] = []
    while True:
        if len(held) < batch_lines:
            held += stream.readlines(BATCH_BYTES)  # whole lines, about that many bytes
        if not held:
            return
        batch, held = held[:batch_lines], held[batch_lines:]
        yield batch


def _parsed_at_once(lines: list[bytes]) -> list[dict[str, Any]] | None:
    """The lines' objects parsed in one call, or None where only line-by-line reading is sure."""
    filled = list(filter(bytes.strip, lines))  # the lines themselves, not stripped copies
    try:
        records = list(map(orjson.loads, filled))
    except orjson.JSONDecodeError:
        return None
    if not {dict}.issuperset(map(type, records)):
        return None
    if float in set(map(type, chain.from_iterable(map(dict.values, records)))):
        records = [_exact(record, line) for record, line in zip(records, filled, strict=True)]
    return records


def _exact(record: Any, line: bytes | str) -> Any:
    """The record with integers past 64 bits read exactly (orjson reads them as floats)."""
    if (
        isinstance(record, dict)
        and float in map(type, record.values())
        and any(_beyond_float(v) for v in record.values())
    ):
        return json.loads(line)
    return record


def _record(line: bytes, number: int, encoding: str, *, utf8: bool) -> dict[str, Any]:
    """One line's object, read exactly; the error names the line."""
    try:
        record = orjson.loads(line if utf8 else _decoded(line, number, encoding))
    except orjson.JSONDecodeError as error:
        _decoded(line, number, encoding)  # a line that is not `encoding` says so
        raise CorpusError(f"line {number} is not valid JSON ({error})") from None
    record = _exact(record, line if utf8 else _decoded(line, number, encoding))
    if not isinstance(record, dict):
        raise CorpusError(f"line {number} is not a JSON object")
    return record


def _decoded(line: bytes, number: int, encoding: str) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError:
        hint = "; try --encoding latin-1 (or the encoding field)" if encoding == "utf-8" else ""
        raise CorpusError(f"line {number} is not {encoding}{hint}") from None


def _beyond_float(value: object) -> bool:
    """A float too large to hold every integer exactly (it may have been an integer)."""
    return isinstance(value, float) and abs(value) >= 2**53


def record_values(records: list[dict[str, Any]], name: str) -> pd.Series:
    """A batch of records' values for one key (None where a record lacks it).

    An Arrow text column when each value is text or None (validated as a whole, as a Parquet
    column is); else objects (validated one by one, as the whole-file reader's).
    """
    values = list(map(methodcaller("get", name), records))
    if _TEXT_OR_NONE.issuperset(map(type, values)):
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.string())), copy=False)
    return pd.Series(values, dtype=object)


_TEXT_OR_NONE = frozenset({str, type(None)})


def jsonl_frames(
    path: Path,
    names: list[str],
    *,
    encoding: str,
    batch_lines: int,
    keys: dict[str, None],
    readers: int | None = None,
) -> Generator[pd.DataFrame, None, None]:
    """The file's records a batch at a time, as the columns named (`record_values`).

    Args:
        path: the JSONL file.
        names: the keys read into columns.
        encoding: the file's text encoding.
        batch_lines: lines parsed at a time.
        keys: filled with the keys, in the order lines give them, until every name is seen
            (they matter only to say which one is missing).
        readers: how many reader processes parse it (0: this one); by default
            `READER_PROCESSES` for a file of `READER_PROCESS_BYTES` or more, else 0.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    if readers is None:
        readers = READER_PROCESSES if path.stat().st_size >= READER_PROCESS_BYTES else 0
    if not readers:
        for records in jsonl_batches(path, encoding=encoding, batch_lines=batch_lines):
            yield _frame(records, names, keys)
        return
    yield from _from_reader_processes(path, names, encoding, batch_lines, keys, readers)


def _frame(records: list[dict[str, Any]], names: list[str], keys: dict[str, None]) -> pd.DataFrame:
    """The records' columns named; the records are emptied (their texts are in the frame)."""
    if not keys.keys() >= set(names):
        keys.update(dict.fromkeys(chain.from_iterable(records)))
    frame = pd.DataFrame({name: record_values(records, name) for name in names})
    records.clear()
    return frame


def _from_reader_processes(
    path: Path,
    names: list[str],
    encoding: str,
    batch_lines: int,
    keys: dict[str, None],
    readers: int,
) -> Iterator[pd.DataFrame]:
    """The frames reader processes parse and send, pickled, through pipes.

    Each of the `readers` parses every n-th batch; their frames are taken in turn, so
    they come in the file's order. A pipe holds little, so a reader is at most a batch or
    two ahead. The processes are stopped when the caller stops reading, for any reason.
    """
    with contextlib.ExitStack() as stack:
        processes = [
            stack.enter_context(
                _ReaderProcess(path, names, encoding, batch_lines, part=part, parts=readers)
            )
            for part in range(readers)
        ]
        for index in count():
            message = processes[index % readers].received()
            if message[0] == "end":
                return
            if message[0] == "error":
                raise CorpusError(message[1])
            if message[0] == "failed":
                raise CorpusError(message[1])
            frame, seen = message[1], message[2]
            keys.update(dict.fromkeys(seen))
            if frame is not None:
                yield frame


class _ReaderProcess:
    """One reader process (`main`), stopped on exit whatever it is doing."""

    def __init__(
        self,
        path: Path,
        names: list[str],
        encoding: str,
        batch_lines: int,
        *,
        part: int,
        parts: int,
    ) -> None:
        self.arguments = json.dumps(
            {
                "path": str(path),
                "names": names,
                "encoding": encoding,
                "batch_lines": batch_lines,
                "part": part,
                "parts": parts,
            }
        )

    def __enter__(self) -> "_ReaderProcess":
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", __name__, self.arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            close_fds=True,
        )
        self.stream = cast(IO[bytes], self.process.stdout)  # stdout=PIPE
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.errors.close()

    def received(self) -> Any:
        """The next message the process sent."""
        try:
            return pickle.load(self.stream)  # noqa: S301 - our own process, through our pipe
        except EOFError:
            self.process.wait()
            self.errors.seek(0)
            said = self.errors.read().decode(errors="replace").strip().splitlines() or [""]
            raise CorpusError(
                f"the JSONL reader process ended early (exit code {self.process.returncode}) "
                f"{said[-1]}".strip()
            ) from None


def main(argv: list[str]) -> int:
    """A reader process: parses its batches of the file, pickling each one's frame to stdout.

    A batch of blank lines sends no frame, so the caller knows which batch comes next.
    """
    arguments = json.loads(argv[0])
    names: list[str] = arguments["names"]
    out = sys.stdout.buffer
    keys: dict[str, None] = {}
    try:
        parsed = _batches(
            Path(arguments["path"]),
            arguments["encoding"],
            arguments["batch_lines"],
            part=arguments["part"],
            parts=arguments["parts"],
        )
        for records in parsed:
            known = len(keys)
            frame = _frame(records, names, keys) if records else None
            pickle.dump(("rows", frame, list(keys)[known:]), out, protocol=5)
            out.flush()
            del frame
    except CorpusError as error:
        pickle.dump(("error", str(error)), out)
    except Exception as error:  # said by the caller as any error in reading the file
        pickle.dump(("failed", str(error) or type(error).__name__), out)
    else:
        pickle.dump(("end",), out)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
