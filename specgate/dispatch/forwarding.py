"""Top-level request fields spec/ does not know: forwarded to a passthrough provider, or the 400.

The body validator (``specgate.contract.validation``) accepts a message or count_tokens body whose only
fault is undeclared top-level keys, and leaves their names in the request state. Whether they may
be sent is decided here, once the model names the routes:

- the first route's provider must forward unknown fields (``type: anthropic`` does unless its
  config says ``forward_unknown_fields: false``); otherwise the answer is the validator's own 400
  (``<first field in sorted order>: Extra inputs are not permitted``), as if nothing had changed;
- fallback routes whose provider does not forward them are left out of the chain: sending them
  the request without the fields would change what was asked, and their 400 would hide the
  first route's real failure;
- the response names the forwarded fields in ``x-specgate-forwarded-fields`` (body order).

The body is sent as the client wrote it (the fields in place); nothing else about it changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from providers.base import forwards_unknown_fields
from providers.router import Router, Target
from specgate.contract.unknown_fields import unknown_field_error
from specgate.core.errors import InvalidRequestError
from specgate.core.types import Json

FORWARDED_HEADER = "x-specgate-forwarded-fields"


@dataclass(frozen=True, slots=True)
class Forwarding:
    """The routes a request may take and the unvalidated fields it carries to them."""

    fields: tuple[str, ...] = ()
    targets: tuple[Target, ...] | None = None  # None: the router's chain, as for any request

    @property
    def headers(self) -> dict[str, str]:
        return {FORWARDED_HEADER: ",".join(self.fields)} if self.fields else {}


NOTHING = Forwarding()


def plan(router: Router, body: Json, unknown: Sequence[str]) -> Forwarding:
    """The routes for ``body`` given its undeclared top-level fields, or the 400 that names one."""
    if not unknown:
        return NOTHING
    chain = router.chain(str(body.get("model", "")))
    if not chain or not forwards_unknown_fields(chain[0].provider):
        raise InvalidRequestError(unknown_field_error(unknown))
    return Forwarding(tuple(unknown), tuple(t for t in chain if forwards_unknown_fields(t.provider)))
