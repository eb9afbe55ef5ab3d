"""specgate: a spec-first LLM gateway serving the Anthropic Messages API.

The routes are in ``spec/``, their handlers in ``handlers``, upstream adapters in ``providers``,
async jobs and batches in ``jobs``. This package holds the rest, one room per concern:
``core`` (the foundation), ``contract`` (spec/ at work), ``access`` (keys and limits), ``ops``
(metrics, logs, readiness), ``gateway`` (what one running gateway holds), ``wire`` (HTTP in and
out), ``dispatch`` (a request's one pass to a provider and back), and on top the app factory
(``app``), the CLI (``cli``) and the fuzzer (``fuzz``). The README's Layout section has the map.

This module holds only the version and imports nothing: every floor may read it.
"""

__version__ = "0.1.0"
