"""Names and values written into SQL text, quoted so that none can end its quote."""

from pathlib import Path


def sql_literal(text: str) -> str:
    """`text` as a quoted SQL string literal (a file path, a JSON key)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (a column of a corpus file), as DuckDB reads it."""
    return '"' + name.replace('"', '""') + '"'


def sql_path(path: Path | str) -> str:
    """A file path as a quoted SQL string literal."""
    return sql_literal(str(path))
