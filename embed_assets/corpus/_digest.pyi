from typing_extensions import Buffer

def sha256_hex(
    prefix: Buffer,
    offsets: Buffer,
    data: Buffer,
    title_offsets: Buffer,
    title_data: Buffer,
    first: int,
    stop: int,
    into: Buffer,
) -> None: ...
def engine() -> str: ...
def use_portable(portable: bool = True) -> str: ...
