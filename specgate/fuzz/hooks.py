"""schemathesis CLI hooks for ``make fuzz``: loaded through ``SCHEMATHESIS_HOOKS=specgate.fuzz.hooks``.

Importing this module registers the hooks globally in schemathesis, which is what the CLI expects;
nothing else imports it (the pytest contract test registers the same rule on its own schema).
"""

from __future__ import annotations

from typing import Any

import schemathesis

from specgate.fuzz.cases import keep_case


@schemathesis.hook("filter_case")
def cross_field_rules(context: Any, case: Any) -> bool:
    return keep_case(case)
