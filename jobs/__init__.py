"""In-process async job registry: submit work, poll for its stored HTTP outcome.

Independent of the web framework and of ``specgate.core.errors``: work returns a ``JobOutcome``
(status + body bytes) and the registry stores and replays it.  Stores live in ``jobs.stores``.
"""
