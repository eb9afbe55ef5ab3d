"""The split OpenAPI spec under spec/: load it, bundle it into one document, validate it, list its
operations.

The YAML files are the source of truth. ``bundle()`` turns them into one OpenAPI document whose
external ``$ref``s became internal ones (``#/components/<kind>/<name>``), so that
openapi-spec-validator checks the content of every referenced file (validating only the root
misses errors inside referenced files), and so that connexion, Swagger UI and schemathesis all
see the same single document.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

import yaml

KINDS = (
    "schemas",
    "responses",
    "parameters",
    "requestBodies",
    "headers",
    "securitySchemes",
    "examples",
    "links",
    "callbacks",
)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecError(Exception):
    """The spec cannot be loaded or bundled; the message names the file and the reference."""


def default_spec_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "spec"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    security: tuple[str, ...]  # scheme names; () means open
    extensions: dict[str, Any]


class _Bundler:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[Path, Any] = {}
        self._origin: dict[tuple[str, str], tuple[Path, str]] = {}
        self.components: dict[str, dict[str, Any]] = {}

    def load(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._files:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SpecError(f"{path}: cannot read ({exc.strerror})") from exc
            try:
                self._files[path] = yaml.load(text, Loader=_LOADER)
            except yaml.YAMLError as exc:
                raise SpecError(f"{path}: invalid YAML: {exc}") from exc
        return self._files[path]

    @staticmethod
    def _pointer(doc: Any, fragment: str, where: str) -> Any:
        node = doc
        for raw in [p for p in fragment.split("/") if p]:
            part = raw.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise SpecError(f"{where}: unresolvable reference (no '{part}')") from None
        return node

    def walk(self, node: Any, cur: Path) -> Any:
        if isinstance(node, list):
            return [self.walk(v, cur) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {k: self.walk(v, cur) for k, v in node.items()}
        file_part, frag = urldefrag(ref)
        target_file = (cur.parent / file_part).resolve() if file_part else cur
        where = f"{cur.relative_to(self.root.parent)}: $ref {ref!r}"
        if target_file == self.root:
            return {"$ref": "#" + frag}
        parts = [p for p in frag.split("/") if p]
        if not parts:
            raise SpecError(f"{where}: a reference to another file needs a fragment (#/Name)")
        kind = parts[0] if len(parts) > 1 and parts[0] in KINDS else target_file.parent.name
        target = self._pointer(self.load(target_file), frag, where)
        if kind not in KINDS:  # path items and other inline pieces
            return self.walk(copy.deepcopy(target), target_file)
        name = parts[-1]
        src = (target_file, frag)
        known = self._origin.get((kind, name))
        if known is None:
            self._origin[(kind, name)] = src
            slot = self.components.setdefault(kind, {})
            slot[name] = {}  # recursion guard
            slot[name] = self.walk(copy.deepcopy(target), target_file)
        elif known != src:
            raise SpecError(f"{where}: component name collision: {kind}/{name} is also {known[0]}#{known[1]}")
        return {"$ref": f"#/components/{kind}/{name}"}


def bundle(spec_dir: Path | None = None) -> dict[str, Any]:
    """Load ``<spec_dir>/openapi.yaml`` and everything it references into one document."""
    root = (spec_dir or default_spec_dir()).resolve() / "openapi.yaml"
    bundler = _Bundler(root)
    doc = bundler.load(root)
    if not isinstance(doc, dict):
        raise SpecError(f"{root}: the root document must be a mapping")
    out: dict[str, Any] = bundler.walk(copy.deepcopy(doc), root)
    components = out.setdefault("components", {})
    for kind, items in bundler.components.items():
        mine = components.setdefault(kind, {})
        for name, value in items.items():
            if name in mine:
                raise SpecError(f"{root}: component name collision: {kind}/{name}")
            mine[name] = value
    return out


def validate(document: dict[str, Any]) -> None:
    """Validate a bundled document with openapi-spec-validator; raise SpecError with every problem."""
    from openapi_spec_validator import OpenAPIV30SpecValidator

    errors = list(OpenAPIV30SpecValidator(document).iter_errors())
    if errors:
        lines = []
        for err in errors[:20]:
            where = "/".join(str(p) for p in getattr(err, "absolute_path", ()))
            lines.append(f"  - at {where or '(root)'}: {err.message}")
        raise SpecError("spec is invalid:\n" + "\n".join(lines))


def operations(document: dict[str, Any]) -> list[Operation]:
    default_security = _scheme_names(document.get("security", []))
    ops: list[Operation] = []
    for path, item in (document.get("paths") or {}).items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            security = _scheme_names(op["security"]) if "security" in op else default_security
            extensions = {k: v for k, v in op.items() if k.startswith("x-")}
            ops.append(Operation(method.upper(), path, str(op.get("operationId", "")), security, extensions))
    return ops


class RecursiveRefError(SpecError):
    """A schema refers to itself; it cannot be inlined."""


def dereference(document: dict[str, Any], node: Any, _seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every internal ``$ref`` of the bundled ``document`` replaced by its target
    (as connexion resolves them). A recursive reference raises ``RecursiveRefError``. Each target
    is resolved once per call and shared where it recurs: treat the result as read-only."""
    return _dereference(document, node, _seen, {})


def _dereference(document: dict[str, Any], node: Any, seen: tuple[str, ...], done: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_dereference(document, v, seen, done) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        if ref in seen:
            raise RecursiveRefError(f"$ref {ref!r} refers to itself")
        if ref not in done:
            done[ref] = _dereference(document, _Bundler._pointer(document, ref[1:], ref), (*seen, ref), done)
        return done[ref]
    return {k: _dereference(document, v, seen, done) for k, v in node.items()}


def operation_object(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The dereferenced operation object, with the path item's parameters merged in (the
    operation's own win, by name and location)."""
    item = document["paths"][path]
    while isinstance(item.get("$ref"), str) and item["$ref"].startswith("#"):
        item = _Bundler._pointer(document, item["$ref"][1:], item["$ref"])
    op: dict[str, Any] = dict(dereference(document, item[method.lower()]))  # only this operation
    shared = dereference(document, item.get("parameters", []))
    own = {(p.get("name"), p.get("in")) for p in op.get("parameters", [])}
    inherited = [p for p in shared if (p.get("name"), p.get("in")) not in own]
    op["parameters"] = [*inherited, *op.get("parameters", [])]
    return op


def allow_header(ops: list[Operation]) -> Callable[[str], str | None]:
    """The ``Allow`` value for a concrete path: the methods of the most specific spec path that
    matches it (static segments beat ``{params}``, as in routing), HEAD wherever GET is."""
    by_path: dict[str, set[str]] = {}
    for op in ops:
        by_path.setdefault(op.path, set()).add(op.method)
    templates = sorted(
        (
            (path.count("{"), re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))), methods)
            for path, methods in by_path.items()
        ),
        key=lambda template: template[0],
    )

    def allow(path: str) -> str | None:
        best: int | None = None
        found: set[str] = set()
        for params, regex, methods in templates:
            if best is not None and params > best:
                break
            if regex.fullmatch(path):
                best = params
                found |= methods
        if "GET" in found:
            found.add("HEAD")
        return ", ".join(sorted(found)) if found else None

    return allow


def _scheme_names(requirements: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(name for req in requirements for name in req)


METRICS_SCHEME = "MetricsTokenAuth"  # server.metrics_token; dropped from the document when unset


def _operations_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in (doc.get("paths") or {}).values():
        found.extend(item[m] for m in HTTP_METHODS if isinstance(item.get(m), dict))
    return found


def without_security(document: dict[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
    """The same document with no security requirements (served when no keys are configured),
    except an operation's requirements that name only schemes in ``keep``."""
    doc = copy.deepcopy(document)
    doc["security"] = []
    for op in _operations_of(doc):
        kept = [r for r in op.get("security") or [] if r and set(r) <= set(keep)]
        if kept:
            op["security"] = kept
        else:
            op.pop("security", None)
    return doc


def without_scheme(document: dict[str, Any], scheme: str) -> dict[str, Any]:
    """The same document without requirements naming ``scheme`` (an operation left with none is open)."""
    doc = copy.deepcopy(document)
    doc["security"] = [r for r in doc.get("security") or [] if scheme not in r]
    for op in _operations_of(doc):
        if "security" in op:
            op["security"] = [r for r in op["security"] if scheme not in r]
    doc.get("components", {}).get("securitySchemes", {}).pop(scheme, None)
    return doc
