"""The foundation: what every other package shares, importing nothing of ours.

* ``errors``    -- the one error hierarchy (``GatewayError`` and its Anthropic error types)
* ``responses`` -- the one mapping of an error to a response (Anthropic's body, or the envelope)
* ``config``    -- the config models and the YAML parser (``Config``, ``load_config``)
* ``types``     -- the shared JSON shapes (``Json``, ``SSEEvent``)
* ``scope``     -- where a request keeps its values in the ASGI scope; request ids
* ``deepjson``  -- JSON encoding that survives any nesting depth

May import: the standard library and third-party packages only. Every floor may import it.
"""
