"""The official ``anthropic`` SDK as the machine-readable statement of the Messages API.

* ``sdk``: the SDK's request TypedDicts (GA and beta) read into a small tree of type nodes
  (``nodes``), with the response models the params accept back folded in.
* ``cases``: minimal valid values for every reachable type, one request body per variant.
* ``emit``: the type tree written as OpenAPI 3.0 schemas (``make api-sync`` writes
  ``spec/schemas/messages_request.yaml``).
* ``diff``: which SDK requests spec/ refuses and which unknown keys it lets through
  (``make api-diff``; the same check runs in tests/specgate/contract/apisurface/).

Only development tooling imports this package: it needs the ``anthropic`` SDK (a dev dependency).
"""
