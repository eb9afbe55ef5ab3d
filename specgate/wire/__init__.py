"""The wire: how requests arrive and answers leave, around the handlers.

* ``serving``    -- the HTTP server's own limits (header deadline, head size, connections)
* ``middleware`` -- request ids, body size limits, errors to Anthropic's shape
* ``fastpath``   -- the Messages operations served without connexion's per-request stack,
  with the same compiled checks
* ``security``   -- the spec's four security schemes and the metrics token (connexion calls these)
* ``observe``    -- one access-log line and the metrics of each request
* ``record``     -- what happened while serving one request (the providers' observer)
* ``traced``     -- with tracing on: the same record, plus the request's and attempts' spans
* ``sse``        -- Server-Sent Events framing (and the platform envelope's)
* ``disconnect`` -- a client hang-up cancels the work done for it
* ``timing``     -- the gateway's own time, measured apart from the upstream's
* ``pagination`` -- the list pages of the API (``before_id``/``after_id``)

May import: the floors below (core; jobs, providers, contract, access, ops; the gateway state).
"""
