"""The contract: spec/ as the routing source of truth, and its enforcement on every request.

* ``spec``           -- bundling the split YAML of spec/ into one document
* ``resolver``       -- operationId -> handler function (connexion's resolver)
* ``validation``     -- connexion's body and parameter validators, on ...
* ``compiled``       -- ... schemas compiled once with jsonschema-rs (``SchemaCache``)
* ``hoisting``       -- repeated subschemas hoisted into definitions before compiling
* ``wording``        -- validation failures worded as the real API words them
* ``unknown_fields`` -- top-level fields spec/ does not declare (a 400, or forwarded)
* ``rules``          -- the cross-field rules no schema can say, declared once
* ``apisurface``     -- spec/ generated from, and proven against, the official SDK's types

May import: ``specgate.core``. Independent of jobs, providers, access and ops (same floor).
"""
