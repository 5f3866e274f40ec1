from typing_extensions import Buffer

def sha256_hex(
    function: int,
    prefix: Buffer,
    offsets: Buffer,
    data: Buffer,
    title_offsets: Buffer,
    title_data: Buffer,
    first: int,
    stop: int,
    into: Buffer,
) -> None: ...
