"""Access: who may call, with which models, and how much: keys, virtual keys, limits, budgets.

* ``keys``      -- the key ring: admin and virtual keys as HMAC digests, constant-time lookup
* ``keyid``     -- opaque ids for admin keys (logs and metrics never see a key)
* ``governance``-- the virtual keys by principal, model access, and the limiter
* ``limiter``   -- admission (check and reserve), usage correction, rate-limit headers
* ``usage``     -- the usage a message or a stream reports, for the correction
* ``ledger``    -- usage accounting per principal and model (``GET /v1/usage``), memory store
* ``redis_ledger`` -- the same ledger in Redis, on the limits store's connection
* ``guard``     -- failed-authentication counting per client address (brute-force brake)
* ``windows``   -- the time windows counters live in (minute, UTC day / month, lifetime)
* ``counters``  -- the counter store protocol and its in-memory implementation
* ``redis_counters`` -- the same counters in Redis, shared by replicas
* ``build``     -- the governance state built from the config at start-up

The request side of access lives above, where the request is: the connexion security
schemes in ``specgate.wire.security``, admission of a request in ``specgate.dispatch.admission``.

May import: ``specgate.core``. Independent of jobs, providers, contract and ops (same floor).
"""
