"""Where spec/ and the installed SDK disagree.

``gaps(document)`` builds every case of ``cases`` for the three request bodies (create,
count_tokens, batch create; GA and beta params) and validates each against the operation's body
schema with the gateway's own validator. A ``Gap`` is a case the spec refuses (with the
validator's message) or, for ``strict`` cases, an unknown key it lets through. ``headers``
checks that each param the SDK sends as a header is a declared header parameter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from specgate.contract import spec
from specgate.contract.apisurface.cases import Case, request_cases
from specgate.contract.apisurface.nodes import Field
from specgate.contract.apisurface.sdk import Surface, operations
from specgate.contract.compiled import CompiledSchema

# The operation each SDK call is checked against, and a minimal body of it.
TARGETS: dict[str, tuple[str, dict[str, Any]]] = {
    "create": (
        "/v1/messages",
        {"model": "claude-sonnet-4-5", "max_tokens": 2048, "messages": [{"role": "user", "content": "x"}]},
    ),
    "count_tokens": (
        "/v1/messages/count_tokens",
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]},
    ),
    "batch": ("/v1/messages/batches", {}),
}


@dataclass(frozen=True, slots=True)
class Gap:
    operation: str
    namespace: str  # "ga" or "beta"
    kind: str  # "refused" (a valid SDK request is refused) or "lenient" (an unknown key is taken)
    path: str
    message: str

    def line(self) -> str:
        return f"{self.operation} [{self.namespace}] {self.kind}: {self.path}: {self.message}"


def body_schema(document: Mapping[str, Any], path: str) -> CompiledSchema:
    op = spec.operation_object(dict(document), "post", path)
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return CompiledSchema(schema)


def cases_for(
    surface: Surface, op: str, fields: Mapping[str, Field], header_fields: Mapping[str, str], *, strict: bool
) -> Iterator[Case]:
    body_fields = {k: f for k, f in fields.items() if k not in header_fields}
    base = TARGETS[op][1]
    if op == "batch":  # the batch's own minimal body: one request with a minimal create
        base = {"requests": [{"custom_id": "req-1", "params": TARGETS["create"][1]}]}
        # A batch item's params type lists the header-borne params too (betas, workspace_id…);
        # they are headers of the batch call, never fields of an item.
        for obj in surface.objects.values():
            if obj.name.endswith("MessageCreateParamsNonStreaming"):
                for key in header_fields:
                    obj.fields.pop(key, None)
    yield from request_cases(surface, body_fields, base, strict=strict)


def gaps(document: Mapping[str, Any], header_fields: Mapping[str, str], *, strict: bool = True) -> list[Gap]:
    surface = Surface()
    found: list[Gap] = []
    for op in operations(surface):
        compiled = body_schema(document, TARGETS[op.name][0])
        for namespace, fields in (("ga", surface.folded(op.ga)), ("beta", surface.folded(op.beta))):
            seen: set[str] = set()
            for case in cases_for(surface, op.name, fields, header_fields, strict=False):
                if case.path in seen:
                    continue
                seen.add(case.path)
                if not compiled.is_valid(case.body):
                    found.append(Gap(op.name, namespace, "refused", case.path, compiled.explain(case.body)))
            if not strict:
                continue
            for case in cases_for(surface, op.name, fields, header_fields, strict=True):
                if case.path in seen:
                    continue
                seen.add(case.path)
                if compiled.is_valid(case.body):
                    found.append(Gap(op.name, namespace, "lenient", case.path, "an unknown key is accepted"))
    return found


def header_gaps(document: Mapping[str, Any], header_fields: Mapping[str, str]) -> list[str]:
    """Header-borne params that an operation does not declare."""
    missing: list[str] = []
    for op_name, (path, _) in TARGETS.items():
        if op_name == "batch":
            continue
        op = spec.operation_object(dict(document), "post", path)
        declared = {str(p.get("name", "")).lower() for p in op.get("parameters", []) if p.get("in") == "header"}
        for field, header in header_fields.items():
            if header.lower() not in declared:
                missing.append(
                    f"{op_name}: the SDK sends `{field}` as header {header}, which POST {path} does not declare"
                )
    return missing
