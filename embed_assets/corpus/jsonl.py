"""JSONL corpora read with every value as written, a batch of lines at a time.

orjson parses a batch of lines in one call; a batch it cannot read exactly (a bad line,
another encoding, an integer past 64 bits) is read line by line, which names the line.
A large file is parsed in a reader process of its own (`python -P -m
embed_assets.corpus.jsonl`), so the caller validates and hashes one batch while the next
is parsed.
"""

import codecs
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from itertools import chain, islice
from operator import methodcaller
from pathlib import Path
from typing import IO, Any, cast

import orjson
import pandas as pd
import pyarrow as pa

from embed_assets.corpus.validation import CorpusError

# a file this large is parsed in a reader process (smaller ones take less than its start)
READER_PROCESS_BYTES = 64 << 20


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
    utf8 = codecs.lookup(encoding).name == "utf-8"  # orjson reads (and checks) UTF-8 bytes
    first = 1
    with path.open("rb") as stream:
        while lines := list(islice(stream, batch_lines)):
            records = _parsed_at_once(lines) if utf8 else None
            if records is None:
                records = [
                    _record(line, first + i, encoding, utf8=utf8)
                    for i, line in enumerate(lines)
                    if line.strip()
                ]
            first += len(lines)
            if records:
                yield records


def _parsed_at_once(lines: list[bytes]) -> list[dict[str, Any]] | None:
    """The lines' objects parsed in one call, or None where only line-by-line reading is sure."""
    filled = list(filter(None, map(bytes.strip, lines)))
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
    apart: bool | None = None,
) -> Iterator[pd.DataFrame]:
    """The file's records a batch at a time, as the columns named (`record_values`).

    Args:
        path: the JSONL file.
        names: the keys read into columns.
        encoding: the file's text encoding.
        batch_lines: lines parsed at a time.
        keys: filled with the keys, in the order lines give them, until every name is seen
            (they matter only to say which one is missing).
        apart: parse in a reader process; by default for a file of `READER_PROCESS_BYTES` or
            more on a machine of more than one core.

    Raises:
        CorpusError: a line is not a JSON object (the message names the line).
    """
    if apart is None:
        apart = path.stat().st_size >= READER_PROCESS_BYTES and (os.cpu_count() or 1) > 1
    if not apart:
        for records in jsonl_batches(path, encoding=encoding, batch_lines=batch_lines):
            _note_keys(keys, records, names)
            yield pd.DataFrame({name: record_values(records, name) for name in names})
        return
    yield from _from_reader_process(path, names, encoding, batch_lines, keys)


def _note_keys(keys: dict[str, None], records: list[dict[str, Any]], names: list[str]) -> None:
    if not keys.keys() >= set(names):
        keys.update(dict.fromkeys(chain.from_iterable(records)))


def _from_reader_process(
    path: Path, names: list[str], encoding: str, batch_lines: int, keys: dict[str, None]
) -> Iterator[pd.DataFrame]:
    """The frames a reader process parses and sends, pickled, through a pipe.

    The pipe holds little, so the reader is at most a batch or two ahead. The process is
    stopped when the caller stops reading, whatever the reason.
    """
    arguments = json.dumps({"path": str(path), "names": names, "encoding": encoding})
    with tempfile.TemporaryFile() as errors:
        reader = subprocess.Popen(
            [sys.executable, "-P", "-m", __name__, arguments, str(batch_lines)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            close_fds=True,
        )
        stream = cast(IO[bytes], reader.stdout)  # stdout=PIPE
        try:
            while True:
                message = _received(stream, reader, errors)
                if message[0] == "end":
                    return
                if message[0] == "error":
                    raise CorpusError(message[1])
                if message[0] == "failed":
                    raise OSError(message[1])
                frame, seen = message[1], message[2]
                keys.update(dict.fromkeys(seen))
                yield frame
        finally:
            stream.close()
            if reader.poll() is None:
                reader.kill()
            reader.wait()


def _received(stream: IO[bytes], reader: subprocess.Popen[bytes], errors: IO[bytes]) -> Any:
    try:
        return pickle.load(stream)  # noqa: S301 - our own reader process, through our own pipe
    except EOFError:
        reader.wait()
        errors.seek(0)
        last = (errors.read().decode(errors="replace").strip().splitlines() or [""])[-1]
        raise OSError(
            f"the JSONL reader process ended early (exit code {reader.returncode}) {last}".strip()
        ) from None


def main(argv: list[str]) -> int:
    """The reader process: parses the file and pickles each batch's frame to stdout."""
    arguments, batch_lines = json.loads(argv[0]), int(argv[1])
    names: list[str] = arguments["names"]
    out = sys.stdout.buffer
    keys: dict[str, None] = {}
    try:
        parsed = jsonl_batches(
            Path(arguments["path"]), encoding=arguments["encoding"], batch_lines=batch_lines
        )
        for records in parsed:
            known = len(keys)
            _note_keys(keys, records, names)
            frame = pd.DataFrame({name: record_values(records, name) for name in names})
            pickle.dump(("rows", frame, list(keys)[known:]), out, protocol=5)
            out.flush()
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
