"""Top-level body fields the spec does not declare, for the handlers that decide about them.

An operation whose handler is marked ``@takes_unknown_fields`` does not refuse them in the body
validator (``specgate.contract.validation``). When the only thing wrong with the body is top-level
keys the schema does not declare, and the body without them is valid, the body is accepted and the
names of those keys are left in ``UNKNOWN_FIELDS_STATE_KEY`` (in body order); the handler decides,
once it knows the provider, whether they are forwarded or refused with the same 400 as the
validator's (``unknown_field_error``). Everything below the top level is validated as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

UNKNOWN_FIELDS_STATE_KEY = "specgate.unknown_fields"  # tuple[str, ...]: see the module docstring
UNKNOWN_FIELDS_ATTR = "__specgate_takes_unknown_fields__"

F = TypeVar("F", bound=Callable[..., Any])


def takes_unknown_fields(function: F) -> F:
    """Mark a handler that decides itself about top-level body fields the spec does not declare
    (it reads ``UNKNOWN_FIELDS_STATE_KEY`` and forwards them or raises ``unknown_field_error``)."""
    setattr(function, UNKNOWN_FIELDS_ATTR, True)
    return function


def handler_takes_unknown_fields(function: Callable[..., Any]) -> bool:
    return getattr(function, UNKNOWN_FIELDS_ATTR, False) is True


def unknown_field_error(names: Iterable[str]) -> str:
    """The 400 message for undeclared top-level fields: the one the validator gives (it names the
    first in sorted order)."""
    return f"{sorted(names)[0]}: Extra inputs are not permitted"
