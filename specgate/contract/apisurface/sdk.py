"""The SDK's request types as a small tree of nodes.

The official SDK declares every request parameter as a ``TypedDict`` (``total=False`` with
``Required[...]`` marks), unions as ``Union[...]`` type aliases and enumerations as
``Literal[...]``. ``read`` turns such a type into ``Node`` values (``apisurface.nodes``);
TypedDicts become ``Obj`` entries of a ``Surface`` (named after the class, ``Beta`` prefix
dropped) and are referred to by ``Ref`` so that the tree can be printed, compared and turned into
JSON values and schemas without touching ``typing`` again.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import pydantic
import typing_extensions

from specgate.contract.apisurface.nodes import (
    Anything,
    Field,
    ListOf,
    Lit,
    LiteralValue,
    MapOf,
    Node,
    Null,
    Obj,
    OneOf,
    Prim,
    Ref,
    union,
    without_null,
)

MODEL_SUFFIX = "@model"
_REQUIRED = {typing_extensions.Required, getattr(typing, "Required", typing_extensions.Required)}
_NOT_REQUIRED = {typing_extensions.NotRequired, getattr(typing, "NotRequired", typing_extensions.NotRequired)}
_LITERAL = {typing.Literal, typing_extensions.Literal}
_UNION = {typing.Union, types.UnionType}


def is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _stem(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1].removeprefix("beta_").removesuffix("_param")


def short_name(cls: type) -> str:
    return re.sub(r"^Beta(?=[A-Z])", "", cls.__name__)


class Surface:
    """Every TypedDict reachable from the roots read so far, by name."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self._names: dict[type, str] = {}
        self._read: set[type] = set()

    def name_of(self, cls: type) -> str:
        """``Beta`` dropped, so a GA class and its beta twin share one name (and one object);
        two unrelated classes of one name get their module's name in front."""
        found = self._names.get(cls)
        if found is not None:
            return found
        name = short_name(cls)
        for other, other_name in self._names.items():
            if other_name != name:
                continue
            if _stem(other) != _stem(cls):  # not the GA/beta twin: another class of that name
                name = "".join(p.capitalize() for p in _stem(cls).split("_")) + name
            break
        self._names[cls] = name
        return name

    def read(self, tp: Any) -> Node:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in _REQUIRED or origin in _NOT_REQUIRED or origin is typing.Annotated:
            return self.read(args[0])
        if tp is bytes or origin is typing.IO or tp is os.PathLike or origin is os.PathLike:
            return Prim("string")  # a file the SDK reads and sends base64-encoded
        if tp is None or tp is type(None):
            return Null()
        if origin in _LITERAL:
            return Lit(tuple(args))
        if origin in _UNION:
            return union([self.read(a) for a in args])
        if is_typed_dict(tp):
            return Ref(self._read_object(tp))
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            return Ref(self._read_model(tp))
        if origin is dict or origin is collections.abc.Mapping:
            return MapOf(self.read(args[1]) if len(args) == 2 else Anything())
        if tp is dict:
            return MapOf(Anything())
        if origin is not None and len(args) == 1:  # Iterable, List, Sequence, SequenceNotStr
            return ListOf(self.read(args[0]))
        if tp is str or tp is datetime.datetime or tp is datetime.date:
            return Prim("string")
        if tp is bool:
            return Prim("boolean")
        if tp is int:
            return Prim("integer")
        if tp is float:
            return Prim("number")
        if tp is object or tp is Any:
            return Anything()
        raise TypeError(f"unsupported SDK type: {tp!r}")

    def _read_object(self, cls: type) -> str:
        name = self.name_of(cls)
        if cls in self._read:
            return name
        self._read.add(cls)
        twin = self.objects.get(name)
        obj = Obj(name, f"{cls.__module__}:{cls.__qualname__}")
        self.objects[name] = obj  # before the fields: a type may refer to itself
        hints = typing.get_type_hints(cls, include_extras=True)
        total = bool(getattr(cls, "__total__", True))
        for key, hint in hints.items():
            origin = typing.get_origin(hint)
            required = origin in _REQUIRED or (total and origin not in _NOT_REQUIRED)
            obj.fields[key] = Field(self.read(hint), required)
        if twin is not None:  # the GA and beta classes of one name: the union of both
            merged = dict(twin.fields)
            for key, f in obj.fields.items():
                old = merged.get(key)
                merged[key] = f if old is None else Field(union([old.node, f.node]), old.required and f.required)
            for key in twin.fields.keys() - obj.fields.keys():
                merged[key] = Field(twin.fields[key].node, False)
            self.objects[name] = Obj(name, twin.qualname, merged)
        return name

    def _read_model(self, cls: type[pydantic.BaseModel]) -> str:
        """A response model that the params accept back (the SDK serialises it by its fields):
        kept as ``<Name>@model``; ``fold_models`` merges it into the param of the same tag."""
        name = self.name_of(cls) + MODEL_SUFFIX
        if cls in self._read:
            return name
        self._read.add(cls)
        obj = Obj(name, f"{cls.__module__}:{cls.__qualname__}")
        self.objects[name] = obj
        for key, info in cls.model_fields.items():
            obj.fields[info.alias or key] = Field(self.read(info.annotation), False)
        return name

    def fold_models(self, nodes: list[Node]) -> list[Node]:
        """Merge every response model in a union into the param object with the same tag (its
        extra fields become optional properties there: what the SDK sends back is accepted);
        models without such a param stay objects of their own. Rewrites the objects in place and
        returns ``nodes`` rewritten."""
        done: set[str] = set()

        def fold(node: Node) -> Node:
            if isinstance(node, ListOf):
                return ListOf(fold(node.item))
            if isinstance(node, MapOf):
                return MapOf(fold(node.value))
            if isinstance(node, Ref):
                visit(node.name)
                return node
            if not isinstance(node, OneOf):
                return node
            members = [fold(m) for m in node.members]
            params = [m for m in members if not (isinstance(m, Ref) and m.name.endswith(MODEL_SUFFIX))]
            kept: list[Node] = list(params)
            for m in members:
                if not (isinstance(m, Ref) and m.name.endswith(MODEL_SUFFIX)):
                    continue
                twin = self._same_tag(m.name, params)
                if twin is None:
                    kept.append(m)
                    continue
                target = self.objects[twin]
                for key, f in self.objects[m.name].fields.items():
                    target.fields.setdefault(key, Field(f.node, False))
            kept = self._merge_same_tags(kept)
            return kept[0] if len(kept) == 1 else OneOf(tuple(kept))

        def visit(name: str) -> None:
            if name in done:
                return
            done.add(name)
            obj = self.objects[name]
            for key, f in list(obj.fields.items()):
                obj.fields[key] = Field(fold(f.node), f.required)

        out = [fold(n) for n in nodes]
        for name in list(self.objects):
            visit(name)
        return out

    def folded(self, fields: dict[str, Field]) -> dict[str, Field]:
        """``fields`` with the response models of their unions folded in (``fold_models``)."""
        nodes = self.fold_models([f.node for f in fields.values()])
        return {k: Field(n, f.required) for (k, f), n in zip(fields.items(), nodes, strict=True)}

    def _tag_values(self, node: Node) -> set[LiteralValue]:
        if not isinstance(node, Ref):
            return set()
        f = self.objects[node.name].fields.get("type")
        return set(f.node.values) if f is not None and f.required and isinstance(f.node, Lit) else set()

    def _merge_same_tags(self, members: list[Node]) -> list[Node]:
        """Two objects of one tag in one union (a GA and a beta class of different names, such
        as DocumentBlockParam and RequestDocumentBlockParam): the first takes the other's fields."""
        out: list[Node] = []
        for m in members:
            tags = self._tag_values(m)
            twin = next((o for o in out if tags and self._tag_values(o) == tags), None)
            if twin is None:
                out.append(m)
                continue
            assert isinstance(twin, Ref) and isinstance(m, Ref)
            target, other = self.objects[twin.name], self.objects[m.name]
            for key, f in other.fields.items():
                old = target.fields.get(key)
                target.fields[key] = (
                    Field(f.node, False)
                    if old is None
                    else Field(union([old.node, f.node]), old.required and f.required)
                )
            for key in target.fields.keys() - other.fields.keys():
                target.fields[key] = Field(target.fields[key].node, False)
        return out

    def _same_tag(self, model: str, params: list[Node]) -> str | None:
        tag = self.objects[model].fields.get("type")
        values = set(tag.node.values) if tag is not None and isinstance(tag.node, Lit) else set()
        for p in params:
            if isinstance(p, Ref):
                f = self.objects[p.name].fields.get("type")
                if f is not None and isinstance(f.node, Lit) and values & set(f.node.values):
                    return p.name
        return None

    def fields_of(self, cls: type) -> dict[str, Field]:
        """The fields of a root TypedDict (the root itself is not kept as an object)."""
        name = self._read_object(cls)
        return dict(self.objects.pop(name).fields)


@dataclass(frozen=True, slots=True)
class Operation:
    """One SDK call: its body fields, read from the GA and the beta params."""

    name: str
    ga: dict[str, Field]
    beta: dict[str, Field]


def operations(surface: Surface) -> list[Operation]:
    """The request bodies the Messages routes take: create, count_tokens, batch create."""
    from anthropic.types import message_count_tokens_params as ga_count
    from anthropic.types import message_create_params as ga_create
    from anthropic.types.beta import message_count_tokens_params as beta_count
    from anthropic.types.beta import message_create_params as beta_create
    from anthropic.types.beta.messages import batch_create_params as beta_batch
    from anthropic.types.messages import batch_create_params as ga_batch

    return [
        _operation(surface, "create", ga_create.MessageCreateParamsBase, beta_create.MessageCreateParamsBase),
        _operation(surface, "count_tokens", ga_count.MessageCountTokensParams, beta_count.MessageCountTokensParams),
        _operation(surface, "batch", ga_batch.BatchCreateParams, beta_batch.BatchCreateParams),
    ]


def _operation(surface: Surface, name: str, ga: type, beta: type) -> Operation:
    beta_fields = surface.fields_of(beta)  # beta first: shared classes take the beta shape's name
    return Operation(name, surface.fields_of(ga), beta_fields)


def discriminator(surface: Surface, members: tuple[Node, ...]) -> tuple[str, dict[LiteralValue, str]] | None:
    """The property (``type`` or ``role``) whose required literal tells the objects of a union
    apart, with each value's object; None when the members are not such objects."""
    if not members or not all(isinstance(m, Ref) for m in members):
        return None
    for prop in ("type", "role"):
        mapping: dict[LiteralValue, str] = {}
        for m in members:
            assert isinstance(m, Ref)
            f = surface.objects[m.name].fields.get(prop)
            if f is None or not f.required or not isinstance(f.node, Lit):
                break
            if any(v in mapping for v in f.node.values):
                break
            mapping.update(dict.fromkeys(f.node.values, m.name))
        else:
            return prop, mapping
    return None


def header_fields() -> dict[str, str]:
    """The params the SDK sends as headers, not in the body (``betas`` -> ``anthropic-beta``…):
    each string-valued param of the beta create call is sent once through the real client on a
    mock transport, and looked for in the body and the headers."""
    import anthropic
    import httpx2
    from anthropic.types.beta import message_create_params

    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        error = {"type": "invalid_request_error", "message": "x"}
        return httpx2.Response(400, json={"type": "error", "error": error})

    marker = "zz-marker-7f3a"
    transport = httpx2.MockTransport(answer)
    client = anthropic.Anthropic(
        api_key="k", base_url="http://127.0.0.1:9", max_retries=0, http_client=httpx2.Client(transport=transport)
    )
    found: dict[str, str] = {}
    fields = Surface().fields_of(message_create_params.MessageCreateParamsBase)
    try:
        for key, f in fields.items():
            node, _ = without_null(f.node)
            if node == Prim("string"):
                value: Any = marker
            elif node == ListOf(Prim("string")):
                value = [marker]
            else:
                continue
            seen.clear()
            kwargs: dict[str, Any] = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
            with contextlib.suppress(anthropic.BadRequestError):
                client.beta.messages.create(**{**kwargs, key: value})
            request = seen[-1]
            if marker.encode() not in request.content:
                found[key] = next(name for name, v in request.headers.items() if marker in v)
    finally:
        client.close()
    return found
