"""Request lines and prediction lines of Vertex batch embedding jobs, in both schemas.

A leaf module: it imports nothing else of this package, so every layer may use it.

Legacy models (`text-embedding-005`, `text-multilingual-embedding-002`, and the local models)
take `{"content", "task_type", "title"}` lines and echo them under `instance`; Gemini embedding
models take `{"key", "request"}` lines and echo `key`. Output order is never the input order,
so results are joined on the echoed instance or key, never on position.

gemini-embedding-2 reads no task type or title from the request: "the model expects the task
type and title to be inlined directly within the prompt" (Google's batch embeddings page). Its
texts are written `title: {title or none} | text: {text}` for documents and
`task: {task} | query: {text}` for the other tasks (`inline_prompt`), the forms of Google's
embeddings guide.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from embed_assets.errors import PredictionError


class RequestSchema(Enum):
    """The shape of request and prediction lines a model uses."""

    LEGACY = "legacy"
    GEMINI = "gemini"


# the `task:` of each task type whose texts are queries (other task types are documents)
INLINE_TASKS = {
    "RETRIEVAL_QUERY": "search result",
    "QUESTION_ANSWERING": "question answering",
    "FACT_VERIFICATION": "fact checking",
    "CODE_RETRIEVAL_QUERY": "code retrieval",
    "CLASSIFICATION": "classification",
    "CLUSTERING": "clustering",
    "SEMANTIC_SIMILARITY": "sentence similarity",
}


def inline_prompt(content: str, *, title: str | None, task_type: str | None) -> str:
    """A text with its task type and title written into it, for a model that reads them there."""
    task = INLINE_TASKS.get((task_type or "").upper())
    if task is not None:
        return f"task: {task} | query: {content}"
    return f"title: {title or 'none'} | text: {content}"


@dataclass(frozen=True)
class Prompt:
    """One request line's worth of input."""

    key: str
    content: str
    title: str | None = None


class RequestLine(NamedTuple):
    """A request line read back: its prompt, and the options the line itself carries."""

    prompt: Prompt
    task_type: str | None
    output_dimensionality: int | None  # Gemini lines only; legacy jobs take modelParameters
    auto_truncate: bool | None  # Gemini lines only


def request_line(
    prompt: Prompt,
    *,
    schema: RequestSchema,
    task_type: str | None,
    output_dimensionality: int | None = None,
    auto_truncate: bool | None = None,
    inline: bool = False,
) -> bytes:
    """Serializes one prompt as a JSONL request line (with its trailing newline).

    A Gemini line carries the model's options in its `embed_content_config` (`task_type`,
    `title`, `output_dimensionality`, `auto_truncate`), which is where Vertex reads them for
    Gemini embedding; a legacy line carries only the instance, and its job's
    `modelParameters` carry `outputDimensionality` and `autoTruncate`. With `inline` (a Gemini
    model that reads them in the text), the task type and title are in the text instead.
    """
    if schema is RequestSchema.LEGACY:
        legacy: dict[str, Any] = {"content": prompt.content}
        if task_type:
            legacy["task_type"] = task_type
        if prompt.title:
            legacy["title"] = prompt.title
        return orjson.dumps(legacy) + b"\n"
    config: dict[str, Any] = {}
    text = prompt.content
    if inline:
        text = inline_prompt(prompt.content, title=prompt.title, task_type=task_type)
    else:
        if task_type:
            config["task_type"] = task_type
        if prompt.title:
            config["title"] = prompt.title
    if output_dimensionality:
        config["output_dimensionality"] = output_dimensionality
    if auto_truncate is not None:
        config["auto_truncate"] = auto_truncate
    request: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if config:
        request["embed_content_config"] = config
    return orjson.dumps({"key": prompt.key, "request": request}) + b"\n"


def parse_request_line(line: bytes | str) -> RequestLine:
    """Reads a request line of either schema back into its prompt and options."""
    data = orjson.loads(line)
    if "request" in data:
        request = data["request"]
        config = request.get("embed_content_config") or {}
        text = "".join(part.get("text", "") for part in request["content"]["parts"])
        prompt = Prompt(key=str(data.get("key", "")), content=text, title=config.get("title"))
        truncate = config.get("auto_truncate")
        return RequestLine(
            prompt,
            config.get("task_type"),
            config.get("output_dimensionality"),
            None if truncate is None else bool(truncate),
        )
    prompt = Prompt(key="", content=data["content"], title=data.get("title"))
    return RequestLine(prompt, data.get("task_type"), None, None)


@dataclass(frozen=True)
class PredictionBatch:
    """The parsed lines of one prediction file, column by column.

    Rows with a non-empty `status` failed; their vector row is all zeros. `unreadable` says
    which lines a lenient parse skipped (`line N: why`): their rows cannot be told.
    """

    keys: list[str]
    contents: list[str]
    titles: list[str | None]
    task_types: list[str | None]
    vectors: npt.NDArray[np.float32]
    token_counts: npt.NDArray[np.int64]
    truncated: npt.NDArray[np.bool_]
    statuses: list[str]
    unreadable: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.statuses)

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Mask of the rows that carry an embedding."""
        return np.fromiter((not s for s in self.statuses), dtype=np.bool_, count=len(self))


def status_text(status: Any) -> str:
    """Renders a prediction line's `status` (text or `{code, message}`) as one line; "" when ok."""
    if not status:
        return ""
    if isinstance(status, str):
        return status
    if isinstance(status, dict):
        message = status.get("message") or ""
        code = status.get("code")
        return f"{code}: {message}" if code is not None else str(message or status)
    return str(status)


def _values(embeddings: dict[str, Any]) -> list[float] | None:
    values = embeddings.get("values")
    if values is None:
        values = embeddings.get("Values")
    return values


def _parse_prediction(
    data: dict[str, Any],
) -> tuple[str, str, str | None, str | None, Any, int, bool, str]:
    """Returns key, content, title, task_type, values, token_count, truncated, status."""
    # a BigQuery errors-table row carries its reason as an `errors` STRUCT {code, message}
    status = status_text(data.get("status") or data.get("error") or data.get("errors"))
    if "instance" in data or "predictions" in data or "errors" in data:
        # JSONL echoes the request under `instance`; a BigQuery row has its columns beside
        instance = (data["instance"] or {}) if "instance" in data else data
        predictions = data.get("predictions") or []
        if isinstance(predictions, str):  # BigQuery output carries predictions as a JSON string
            predictions = orjson.loads(predictions)
        embeddings = (predictions[0] or {}).get("embeddings", {}) if predictions else {}
        stats = embeddings.get("statistics") or {}
        values = _values(embeddings)
        if values is None and not status:
            status = "prediction line carries no embedding values"
        return (
            str(instance.get("key", "")),
            instance.get("content", ""),
            instance.get("title"),
            instance.get("task_type"),
            values,
            int(stats.get("token_count", 0) or 0),
            bool(stats.get("truncated", False)),
            status,
        )
    request = data.get("request") or {}
    config = request.get("embed_content_config") or {}
    parts = (request.get("content") or {}).get("parts") or []
    response = data.get("response") or {}
    embedding = response.get("embedding") or (response.get("embeddings") or [{}])[0]
    values = _values(embedding) if embedding else None
    if values is None and not status:
        status = "prediction line carries no embedding values"
    usage = response.get("usageMetadata") or response.get("usage_metadata") or {}
    # the service writes `response.tokenCount` as an int64 string; older shapes nest it
    tokens = (
        response.get("tokenCount")
        or usage.get("promptTokenCount")
        or usage.get("prompt_token_count")
        or 0
    )
    stats = embedding.get("statistics") or {} if embedding else {}
    # an EmbedContentResponse says `truncated` at its top level (prediction_service.proto)
    truncated = response.get("truncated", stats.get("truncated", False))
    return (
        str(data.get("key", "")),
        "".join(p.get("text", "") for p in parts),
        config.get("title"),
        config.get("task_type"),
        values,
        int(stats.get("token_count", tokens) or 0),
        bool(truncated),
        status,
    )


def parse_prediction_lines(lines: Iterable[bytes], *, lenient: bool = False) -> PredictionBatch:
    """Parses prediction lines of either schema into a `PredictionBatch`.

    Args:
        lines: the lines of one prediction file.
        lenient: skip a line that cannot be read (listed in `unreadable`) and fail a row whose
            vector length differs from the first one's, instead of raising.

    Raises:
        ValueError: (not lenient) a line is not valid JSON, or vectors disagree on their length.
    """
    unreadable: list[str] = []
    keys: list[str] = []
    contents: list[str] = []
    titles: list[str | None] = []
    task_types: list[str | None] = []
    rows: list[Any] = []
    counts: list[int] = []
    truncated: list[bool] = []
    statuses: list[str] = []
    dimension = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            key, content, title, task_type, values, count, cut, status = _parse_prediction(data)
        except orjson.JSONDecodeError as error:
            if not lenient:
                raise PredictionError(
                    f"prediction line {number} is not valid JSON: {error}"
                ) from error
            unreadable.append(f"line {number} is not valid JSON ({error})")
            continue
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
            if not lenient:
                raise PredictionError(
                    f"prediction line {number} has an unknown shape: {error}"
                ) from error
            unreadable.append(f"line {number} has an unknown shape ({error})")
            continue
        if values is not None and not status:
            if dimension == 0:
                dimension = len(values)
            elif len(values) != dimension:
                if not lenient:
                    raise PredictionError(
                        f"prediction line {number} has a {len(values)}-d vector, earlier ones "
                        f"{dimension}-d"
                    )
                status = f"vector has {len(values)} values, earlier rows {dimension}"
        keys.append(key)
        contents.append(content)
        titles.append(title)
        task_types.append(task_type)
        rows.append(values if not status else None)
        counts.append(count)
        truncated.append(cut)
        statuses.append(status)
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    for index, values in enumerate(rows):
        if values is not None:
            vectors[index] = values
    return PredictionBatch(
        keys=keys,
        contents=contents,
        titles=titles,
        task_types=task_types,
        vectors=vectors,
        token_counts=np.asarray(counts, dtype=np.int64),
        truncated=np.asarray(truncated, dtype=np.bool_),
        statuses=statuses,
        unreadable=tuple(unreadable),
    )


def concat_batches(batches: Iterable[PredictionBatch]) -> PredictionBatch:
    """Joins batches of one output (pages of a prediction table) into one batch.

    Raises:
        ValueError: the batches' vectors disagree on their length.
    """
    parts = [b for b in batches if len(b)]
    if not parts:
        return parse_prediction_lines([])
    dimensions = {b.vectors.shape[1] for b in parts if b.ok.any()}
    if len(dimensions) > 1:
        raise PredictionError(f"prediction rows have vectors of {sorted(dimensions)} values")
    dimension = dimensions.pop() if dimensions else 0
    vectors = [
        b.vectors if b.vectors.shape[1] == dimension else np.zeros((len(b), dimension), np.float32)
        for b in parts
    ]
    return PredictionBatch(
        keys=[k for b in parts for k in b.keys],
        contents=[c for b in parts for c in b.contents],
        titles=[t for b in parts for t in b.titles],
        task_types=[t for b in parts for t in b.task_types],
        vectors=np.concatenate(vectors).astype(np.float32, copy=False),
        token_counts=np.concatenate([b.token_counts for b in parts]),
        truncated=np.concatenate([b.truncated for b in parts]),
        statuses=[s for b in parts for s in b.statuses],
        unreadable=tuple(u for b in parts for u in b.unreadable),
    )
