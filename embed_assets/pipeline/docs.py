"""Reading a class's field descriptions from its Google-style docstring ("Attributes:")."""

import inspect
import re

_ENTRY = re.compile(r"^(\w+)(?: \([^)]*\))?: (.*)$")


def field_descriptions(cls: type) -> dict[str, str]:
    """Each attribute's description in `cls`'s docstring, joined onto one line.

    The docstring is the one place a pipeline field is described: the YAML Component, the
    README and `help()` show the same words.
    """
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    try:
        start = lines.index("Attributes:") + 1
    except ValueError:
        return {}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next section
        text = line.strip()
        entry = (
            _ENTRY.match(text) if line.startswith("    ") and not line.startswith("     ") else None
        )
        if entry:
            current = found.setdefault(entry.group(1), [entry.group(2)])
        elif text and current is not None:
            current.append(text)
    return {name: " ".join(words) for name, words in found.items()}
