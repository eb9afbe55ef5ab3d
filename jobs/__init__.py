"""In-process async job registry: submit work, poll for its stored HTTP outcome.

Independent of the web framework: work returns a ``JobOutcome`` (status + body bytes) and the
registry stores and replays it. Stores live in ``jobs.stores``; Message Batches, which run on
the same stores, in ``jobs.batches``. May import: ``specgate.core`` only.
"""
