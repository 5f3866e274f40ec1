"""What every staging location offers: objects (files or tables) addressed by URI."""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa


class Storage(Protocol):
    """Reads and writes objects addressed by URI under one root.

    Attributes:
        root: the URI everything staged is below.
        holds_tables: the staged objects are tables of a warehouse (`TableStorage`), not files.
    """

    root: str
    holds_tables: bool

    def join(self, *parts: str) -> str:
        """Returns the URI of `parts` below the root."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Writes (or replaces) an object."""
        ...

    def upload_file(self, local_path: Path, uri: str) -> None:
        """Copies a local file to an object."""
        ...

    def open_read(self, uri: str) -> AbstractContextManager[IO[bytes]]:
        """Opens an object for streaming reads."""
        ...

    def download_file(self, uri: str, local_path: Path) -> None:
        """Copies an object to a local file."""
        ...

    def exists(self, uri: str) -> bool:
        """Tells whether an object exists."""
        ...

    def list_jsonl(self, uri: str) -> list[str]:
        """Returns every `*.jsonl` object at or below `uri`, sorted."""
        ...

    def fingerprint(self, uri: str) -> str | None:
        """Returns a cheap value that changes whenever the object does (None if missing)."""
        ...

    def delete(self, uri: str) -> int:
        """Deletes an object, or every object below a folder / prefix; returns how many."""
        ...

    def location(self) -> str | None:
        """Returns where the root's bucket or dataset keeps its data (None: not a cloud place).

        Raises:
            StagedObjectMissing: the bucket or dataset does not exist.
        """
        ...


class TableStorage(Storage, Protocol):
    """A staging whose objects are tables of a warehouse (`holds_tables` is True).

    Attributes:
        client: the warehouse client the tables are read and written with.
    """

    client: Any

    def table(self, uri: str) -> Any:
        """Returns the address of the table a URI names (its `.sql` quotes it for a query)."""
        ...

    def write_table(self, uri: str, rows: pa.Table) -> None:
        """Replaces the table `uri` names with `rows`."""
        ...

    def read_table(self, uri: str) -> pa.Table:
        """Reads the table `uri` names as Arrow."""
        ...
