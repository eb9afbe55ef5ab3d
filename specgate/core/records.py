"""``@record``: a dataclass that the type checker holds frozen and the interpreter builds fast.

A ``@dataclass(frozen=True)`` enforces its immutability at run time by setting each field in
``__init__`` through ``object.__setattr__``: ~350 instructions a field (callgrind), so a
request's context (ten fields) cost ~5,000 instructions to build, and a stream event (three)
~5,000 as well. The values built on every request or stream event are ``@record`` instead: a
slotted dataclass, with ``frozen_default`` in its ``dataclass_transform`` so that mypy still
refuses an assignment to a field ("read-only"). Build a changed copy, never assign. Unlike a
frozen dataclass, a record is not hashable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    return dataclass(slots=True)(cls)
