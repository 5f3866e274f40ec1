"""The `filter` of `batchPredictionJobs.list`, as the emulator understands it.

Supported: comparisons `field = "value"`, `field != "value"` and `labels.key:*` (has label) on
`display_name`, `state`, `model` and `labels.<key>`, combined with `AND`, `OR`, `NOT` and
parentheses. Anything else is refused as INVALID_ARGUMENT, as the service would.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from embed_assets.errors import EmbedAssetsError

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|=|:|\(|\))|(?P<word>[A-Za-z0-9_.\-*]+))'
)
_FIELDS = {"display_name": "displayName", "displayName": "displayName", "state": "state"}


class FilterError(EmbedAssetsError, ValueError):
    """The filter cannot be parsed or names an unsupported field."""


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"cannot parse filter at {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return tokens


def _field_value(job: Mapping[str, Any], field: str) -> str | None:
    if field.startswith("labels."):
        value = (job.get("labels") or {}).get(field[len("labels.") :])
        return None if value is None else str(value)
    if field in ("model", "model_display_name"):
        return str(job.get("model", "")).rsplit("/", 1)[-1]
    if field in _FIELDS:
        return str(job.get(_FIELDS[field], ""))
    raise FilterError(f"unsupported filter field {field!r}")


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("filter ends too early")
        self.index += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == "OR":
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda job: a(job) or b(job))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.take()
            right = self.negation()
            left = (lambda a, b: lambda job: a(job) and b(job))(left, right)
        return left

    def negation(self) -> Predicate:
        if self.peek() == "NOT":
            self.take()
            inner = self.negation()
            return lambda job: not inner(job)
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            if self.take() != ")":
                raise FilterError("missing ')' in filter")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        field = self.take()
        operator = self.take()
        value = _unquote(self.take())
        _field_value({}, field)  # refuses unknown fields now, not on the first job
        if field == "state":
            value = value if value.startswith("JOB_STATE_") else f"JOB_STATE_{value}"
        if operator == "=":
            return lambda job: _field_value(job, field) == value
        if operator == "!=":
            return lambda job: _field_value(job, field) != value
        if operator == ":":
            if value == "*":
                return lambda job: _field_value(job, field) is not None
            return lambda job: value in (_field_value(job, field) or "")
        raise FilterError(f"unsupported operator {operator!r} in filter")


def parse_filter(text: str | None) -> Predicate:
    """Returns a predicate over REST job records for a list filter (None or "": every job).

    Raises:
        FilterError: the filter is malformed or uses an unsupported field.
    """
    if not text or not text.strip():
        return lambda job: True
    parser = _Parser(_tokens(text))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek()!r} in filter")
    return predicate
