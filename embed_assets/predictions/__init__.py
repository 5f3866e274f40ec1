"""Request and prediction lines of batch embedding jobs, and the readers of prediction files."""

from embed_assets.predictions.lines import (
    PredictionBatch,
    Prompt,
    RequestSchema,
    parse_prediction_lines,
    parse_request_line,
    request_line,
)
from embed_assets.predictions.readers import read_prediction_file, read_predictions

__all__ = [
    "PredictionBatch",
    "Prompt",
    "RequestSchema",
    "parse_prediction_lines",
    "parse_request_line",
    "read_prediction_file",
    "read_predictions",
    "request_line",
]
