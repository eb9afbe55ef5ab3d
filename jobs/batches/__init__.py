"""Message Batches, run by the gateway itself on the job store (so they work for every provider).

* ``model``   -- a batch and its items as stored, and their API rendering
* ``runner``  -- runs a batch's items with bounded concurrency
* ``service`` -- create, list, get, cancel, delete and results, per owner

May import: ``jobs`` and ``specgate.core``.
"""
