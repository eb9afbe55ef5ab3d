"""Dispatch: a request's one pass down to a provider and back.

* ``admission`` -- the principal's key: model access (403), limits (429), a ticket
* ``forwarding`` -- which targets may be sent fields spec/ does not declare
* ``fallbacks`` -- the route's targets tried in order, with the upstream's own retries
* ``exchange``  -- ``serve``: fallbacks, the provider, usage settled (limits, the ledger) on the way back
* ``traces``    -- spans of their own for background calls (jobs, batch items), linked to the request

Every way a Messages request is served (JSON, a stream, a background job, a batch item) goes
``admission.admit`` -> ``exchange.serve`` and nothing else.

May import: the floors below (core; jobs, providers, contract, access, ops; the gateway; wire).
"""
