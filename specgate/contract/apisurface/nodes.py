"""The type tree the SDK's request types are read into (``specgate.contract.apisurface.sdk``).

A ``Node`` is a scalar (``Prim``), a set of literal values (``Lit``), ``Null``, ``Anything``, a
list or a string-keyed map of one node, a union (``OneOf``) or a ``Ref`` to a named ``Obj`` (a
TypedDict's wire fields). The tree can be printed, compared and turned into JSON values and schemas
without touching ``typing``. ``union`` builds a union the way the SDK's ``Union[...]`` means it
(flattened, literals merged); ``without_null`` takes ``None`` out of one.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

Scalar = typing.Literal["string", "integer", "number", "boolean"]
LiteralValue = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Prim:
    kind: Scalar


@dataclass(frozen=True, slots=True)
class Lit:
    values: tuple[LiteralValue, ...]


@dataclass(frozen=True, slots=True)
class Null:
    pass


@dataclass(frozen=True, slots=True)
class Anything:
    pass


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Node


@dataclass(frozen=True, slots=True)
class MapOf:
    value: Node


@dataclass(frozen=True, slots=True)
class OneOf:
    members: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


Node = Prim | Lit | Null | Anything | ListOf | MapOf | OneOf | Ref


@dataclass(frozen=True, slots=True)
class Field:
    node: Node
    required: bool


@dataclass(slots=True)
class Obj:
    """One TypedDict: its wire fields in declaration order."""

    name: str
    qualname: str  # module:class, for messages
    fields: dict[str, Field] = field(default_factory=dict)


def union(members: list[Node]) -> Node:
    """One node for ``members``: nested unions flattened, duplicates, literal strings beside ``str``
    and ``integer`` beside ``number`` dropped, literals and lists merged."""
    flat: list[Node] = []
    for m in members:
        for sub in m.members if isinstance(m, OneOf) else (m,):
            if sub not in flat:
                flat.append(sub)
    if Prim("string") in flat:  # Literal[...] | str is a string
        flat = [m for m in flat if not (isinstance(m, Lit) and all(isinstance(v, str) for v in m.values))]
    lits = [m for m in flat if isinstance(m, Lit)]
    if len(lits) > 1:
        merged = Lit(tuple(dict.fromkeys(v for lit in lits for v in lit.values)))
        flat = [merged if m is lits[0] else m for m in flat if not isinstance(m, Lit) or m is lits[0]]
    lists = [m for m in flat if isinstance(m, ListOf)]
    if len(lists) > 1:  # Iterable[A] | Iterable[B] is one list of A | B
        merged_list = ListOf(union([m.item for m in lists]))
        flat = [merged_list if m is lists[0] else m for m in flat if not isinstance(m, ListOf) or m is lists[0]]
    if Prim("integer") in flat and Prim("number") in flat:
        flat.remove(Prim("integer"))
    return flat[0] if len(flat) == 1 else OneOf(tuple(flat))


def without_null(node: Node) -> tuple[Node, bool]:
    """The node with ``None`` taken out of a union, and whether it was there."""
    if isinstance(node, OneOf) and Null() in node.members:
        rest = tuple(m for m in node.members if m != Null())
        return (rest[0] if len(rest) == 1 else OneOf(rest)), True
    if isinstance(node, Lit) and None in node.values:
        return Lit(tuple(v for v in node.values if v is not None)), True
    return node, node == Null()
