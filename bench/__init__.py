"""`make bench`: throughput and memory of embed_assets against baselines measured in the same run.

Every figure runs in fresh subprocesses (so each has its own peak RSS), several times, and the
median is reported next to a baseline measured the same way on the same data.
"""
