"""Contract fuzzing: ``make fuzz`` runs the schemathesis CLI against a live gateway.

* ``run``   -- ``python -m specgate.fuzz``: serve, fuzz every operation, report per operation
* ``cases`` -- the spec as schemathesis reads it, and which generated cases to keep
* ``hooks`` -- the schemathesis CLI hook module (``SCHEMATHESIS_HOOKS=specgate.fuzz.hooks``)

A tool on the top floor: it may import anything below (the app, the rules, the echo provider).
"""
