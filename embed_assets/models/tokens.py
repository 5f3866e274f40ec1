"""A model's token count of a text before it is sent, so that chunks fit its input limit.

- lexical-hash counts its own words: exact.
- all-MiniLM-L6-v2 counts with its own tokenizer, special tokens included: exact.
- The Vertex models' tokenizers do not ship with any package here, so their count is an
  estimate meant never to fall short: one token per digit, per symbol and per character
  outside ASCII, and one per three letters of an ASCII word (SentencePiece vocabularies
  average about four letters a token on English prose). Chunks are cut to 90 % of the limit
  on top of that. The service reports each row's own count (`token_count` in the table) and
  whether it cut the text (`truncated`, the `not_truncated` check): that is where an estimate
  that fell short shows.
"""

import re
from collections.abc import Callable

import duckdb
import pyarrow as pa

from embed_assets.models.catalog import PromptRule, model_spec
from embed_assets.models.registry import LEXICAL_MODEL, MINILM_MODEL, load_local_model
from embed_assets.predictions.lines import INLINE_TASKS, inline_prompt

TokenCounter = Callable[[str], int]

# an estimated count leaves this share of the input limit to the estimate's error
ESTIMATE_MARGIN = 0.9
LETTERS_PER_TOKEN = 3

_ASCII_WORD = re.compile(r"[A-Za-z]+")
_NOT_COUNTED_APART = re.compile(r"[A-Za-z\s]+")  # letters (counted per word) and white space


def estimate_vertex_tokens(text: str) -> int:
    """The estimate of the module docstring: an upper bound, not the service's exact count.

    The chunking rule counts the same estimate in compiled code (`corpus/_splitter.c`); a test
    holds the two to the same cuts.
    """
    words = sum(-(-len(word) // LETTERS_PER_TOKEN) for word in _ASCII_WORD.findall(text))
    return words + len(_NOT_COUNTED_APART.sub("", text))


def _lexical_tokens(text: str) -> int:
    return int(load_local_model(LEXICAL_MODEL).count_tokens([text])[0])


def _minilm_tokens(text: str) -> int:
    return int(load_local_model(MINILM_MODEL).count_tokens([text])[0])


def token_counter(model: str) -> TokenCounter:
    """Returns how `model`'s tokens of a text are counted (see the module docstring).

    Raises:
        ConfigError: the model is unknown.
    """
    name = model_spec(model).name
    if name == LEXICAL_MODEL:
        return _lexical_tokens
    if name == MINILM_MODEL:
        return _minilm_tokens
    return estimate_vertex_tokens


def counts_exactly(model: str) -> bool:
    """True when `token_counter(model)` is the model's own count, not an estimate."""
    return model_spec(model).local


def inline_frame_tokens(model: str) -> int:
    """The most tokens the inlined `task: ... | query: ` or `title: none | text: ` adds (0: none).

    A model that reads the task type and title in its texts (`PromptRule.INLINE`) is sent
    them there, and they count against its input limit and its price.
    """
    if model_spec(model).prompt_rule is not PromptRule.INLINE:
        return 0
    return max(
        estimate_vertex_tokens(inline_prompt("", title=None, task_type=task))
        for task in (*INLINE_TASKS, None)
    )


def default_chunk_tokens(model: str) -> int:
    """The default `Chunking.max_tokens`: the model's input limit, less a margin if estimated."""
    limit = model_spec(model).max_input_tokens
    if counts_exactly(model):
        return limit
    return int(limit * ESTIMATE_MARGIN) - inline_frame_tokens(model)


# `estimate_vertex_tokens` in SQL: a word of n letters is ceil(n / 3) runs of up to three
# letters. RE2's `\s` is ASCII white space only, so white space outside ASCII counts as a
# token here: the sum is never below the estimate's
_ESTIMATE_SQL = (
    "len(regexp_extract_all({text}, '[A-Za-z]{{1,{per_token}}}')) "
    "+ length(regexp_replace({text}, '[A-Za-z\\s]', '', 'g'))"
)


def estimate_prompt_tokens(
    contents: pa.Array | pa.ChunkedArray,
    titles: pa.Array | pa.ChunkedArray,
    *,
    model: str,
) -> int:
    """The tokens some prompts will be billed for, estimated never to fall short.

    Each prompt counts its text, its title and, for a model that reads them inline, the
    `task: ... | query: ` framing (`inline_frame_tokens`). Counted by DuckDB over the Arrow
    columns, on every core.
    """
    if len(contents) == 0:
        return 0
    table = pa.table({"content": contents, "title": titles})
    sql = "SELECT sum({content} + coalesce({title}, 0)) FROM prompts".format(
        content=_ESTIMATE_SQL.format(text="content", per_token=LETTERS_PER_TOKEN),
        title=_ESTIMATE_SQL.format(text="title", per_token=LETTERS_PER_TOKEN),
    )
    connection = duckdb.connect()
    try:
        connection.register("prompts", table)
        (total,) = connection.execute(sql).fetchone() or (0,)
    finally:
        connection.close()
    return int(total or 0) + inline_frame_tokens(model) * len(contents)
