"""`make bench`: throughput and latency of Lingxi's event path, each figure beside a baseline measured
in the same run (raw redis-py for the broker path, one replica for scale-out).

``python -m bench [--quick] [--only SCENARIO] [--output DIR] [--update-readme]``, a scenario being
broker, http, scale, nlu, moderation or vision.
"""
