"""specgate: a spec-first LLM gateway serving the Anthropic Messages API.

The application wiring lives here (app factory, config, auth, error mapping, CLI); the routes
are in ``spec/``, their handlers in ``handlers``, upstream adapters in ``providers``, async jobs
in ``jobs``.
"""

__version__ = "0.1.0"
