"""Token counts before sending: exact for the local models, an estimate that does not fall short
for the Vertex ones (checked against a real subword tokenizer's count on real and odd texts)."""

import pytest

from embed_assets.models.registry import load_local_model, minilm_available
from embed_assets.models.tokens import (
    default_chunk_tokens,
    estimate_vertex_tokens,
    token_counter,
)
from tests.helpers import module_documentation

ODD_TEXTS = [
    "日本語のテキストです。東京は大きい都市です。",
    "Ünïcödé façade naïve café",
    "1234567890 3.14159 2026-12-03",
    "x = {'a': [1, 2, 3]}; print(x)",
]


def test_the_local_models_are_counted_by_their_own_count() -> None:
    text = module_documentation("textwrap")[:3000]
    lexical = load_local_model("lexical-hash")
    assert token_counter("lexical-hash")(text) == int(lexical.count_tokens([text])[0])
    assert default_chunk_tokens("lexical-hash") == 2048  # exact: no margin
    assert default_chunk_tokens("text-embedding-005") == 1843  # estimated: 90 % of 2,048


@pytest.mark.skipif(not minilm_available(), reason="needs the local extra")
def test_the_vertex_estimate_is_at_least_a_wordpiece_count() -> None:
    """SentencePiece vocabularies of 250k pieces split text less than BERT's 30k WordPiece."""
    model = load_local_model("all-MiniLM-L6-v2")
    assert token_counter("all-MiniLM-L6-v2")(ODD_TEXTS[0]) == int(
        model.count_tokens([ODD_TEXTS[0]])[0]
    )
    prose = module_documentation("argparse", "json", "csv", "unicodedata")
    parts = [prose[i : i + 1500] for i in range(0, len(prose), 1500)] + ODD_TEXTS
    wordpieces = model.count_tokens(parts) - 2  # less [CLS] and [SEP]
    estimates = [estimate_vertex_tokens(part) for part in parts]
    short = [p for p, w, e in zip(parts, wordpieces, estimates, strict=True) if e < w]
    assert short == []
