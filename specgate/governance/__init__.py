"""Governance: virtual keys, per-key model access, rate limits and token budgets.

* ``settings``  -- the ``auth.virtual_keys`` / ``limits`` config pieces (parsed by ``specgate.config``)
* ``windows``   -- the time windows counters live in (minute, UTC day / month, lifetime)
* ``store``     -- the counter store protocol and its in-memory implementation
* ``redis_store`` -- the same counters in Redis (one Lua script per admission), shared by replicas
* ``limiter``   -- admission (check and reserve), usage correction, rate-limit headers
* ``guard``     -- failed-authentication counting per client address (brute-force brake)
* ``gate``      -- the glue the handlers call (principal -> key -> 403/429 or a ticket)
"""
