from collections.abc import Callable

from typing_extensions import Buffer

def spans(
    offsets: Buffer,
    data: Buffer,
    documents: Buffer,
    rooms: Buffer,
    counter: Callable[[str], int] | None = None,
    overlap: int = 0,
) -> tuple[bytes, bytes, bytes]: ...
def gather(data: Buffer, places: Buffer, into: Buffer) -> None: ...
