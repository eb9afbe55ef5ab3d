"""Operations: what an operator reads: Prometheus metrics, the JSON logs, readiness checks, traces.

* ``metrics`` -- the Prometheus registry of one process (and the multiprocess mode of workers)
* ``logs``    -- the logging config and its JSON and text formatters
* ``health``  -- readiness: named async checks, each bounded by a timeout (``GET /readyz``)
* ``tracing`` -- the tracer: the SDK's propagator, sampler, ids and resource (imported only when configured)
* ``spans``   -- a span as the request path records it (a slotted record; no OpenTelemetry import)
* ``otlp``    -- those spans encoded as an OTLP ``ExportTraceServiceRequest``, byte by byte
* ``export``  -- the batch exporter thread: ended spans POSTed to the OTLP/HTTP endpoint
* ``snapshot``-- the operator page's numbers, read from the ``/metrics`` exposition

What a request records is decided where the request is: ``specgate.wire.observe``.

May import: ``specgate.core``. Independent of jobs, providers, contract and access (same floor).
"""
