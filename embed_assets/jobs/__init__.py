"""One submission's life: plan → submit or re-attach → poll → cancel → land."""

from embed_assets.jobs.handler import SubmissionHandler, SubmissionSettings
from embed_assets.jobs.landing import LandingReport, SubmissionNotFinished
from embed_assets.jobs.polling import PollResult
from embed_assets.jobs.record import Submission, SubmittedJob

__all__ = [
    "LandingReport",
    "PollResult",
    "Submission",
    "SubmissionHandler",
    "SubmissionNotFinished",
    "SubmissionSettings",
    "SubmittedJob",
]
