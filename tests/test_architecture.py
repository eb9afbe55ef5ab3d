"""The house rules, read from the source with ``ast``: floors, no import circles, small modules.

Each package sits on a floor. A module may import its own package and anything on a lower
floor; packages that share a floor are independent of each other (neither imports the other).
``specgate/__init__.py`` holds only the version and imports nothing, so any floor may read it.
Imports under ``if TYPE_CHECKING:`` count: a type is a dependency too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("specgate", "handlers", "providers", "jobs", "bench")

# Bottom to top. A name is a package or module prefix; the longest prefix that matches wins.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("specgate.core",),  # the foundation: errors, config, shared JSON types, scope keys
    ("jobs", "providers", "specgate.contract", "specgate.access", "specgate.ops"),
    ("specgate.gateway",),  # what one running gateway holds
    ("specgate.wire",),  # HTTP in and out
    ("specgate.dispatch",),  # admission, routing and fallbacks, settlement
    ("handlers",),  # one module per group of operations in spec/
    ("specgate.app",),  # the app factory: builds the gateway, binds spec/ to handlers
    ("specgate.cli", "specgate.fuzz", "bench"),  # what people run
    ("specgate.__main__",),
)
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module of ours
    line: int


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Our modules ``name`` imports. ``from P import m`` where ``P.m`` is a module is an edge to
    ``P.m`` alone (Python runs ``P/__init__`` too, but that is the package's business)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in known else base)
        for target in targets:
            resolved = resolve(target)
            if resolved is not None and resolved != name:
                yield Import(name, resolved, node.lineno)


def floor_of(name: str) -> tuple[int, str]:
    """(floor, room): the floor index and the prefix that placed the module there."""
    best: tuple[int, str] | None = None
    for index, rooms in enumerate(FLOORS):
        for room in rooms:
            if (name == room or name.startswith(room + ".")) and (best is None or len(room) > len(best[1])):
                best = (index, room)
    if best is None:
        raise AssertionError(f"{name}: on no floor; add its package to FLOORS in {Path(__file__).name}")
    return best


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    known = modules()
    return [edge for name, path in known.items() for edge in imports_of(name, path, known)]


def test_every_module_is_on_a_floor() -> None:
    for name in modules():
        if name != "specgate":
            floor_of(name)


def test_the_package_root_imports_nothing_of_ours(graph: list[Import]) -> None:
    assert [e for e in graph if e.source == "specgate"] == []


def test_no_import_runs_up_a_floor_or_across_to_a_sibling(graph: list[Import]) -> None:
    wrong = []
    for edge in graph:
        if edge.target == "specgate":  # the version
            continue
        (src_floor, src_room), (dst_floor, dst_room) = floor_of(edge.source), floor_of(edge.target)
        if src_room == dst_room:
            continue
        if dst_floor > src_floor:
            wrong.append(f"{edge.source}:{edge.line} imports {edge.target} (up from {src_room} to {dst_room})")
        elif dst_floor == src_floor:
            wrong.append(f"{edge.source}:{edge.line} imports {edge.target} (sibling {dst_room} of {src_room})")
    assert wrong == []


def test_no_import_circles(graph: list[Import]) -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for edge in graph:
        edges[edge.source].add(edge.target)
    circles = [sorted(c) for c in strongly_connected(edges) if len(c) > 1]
    assert circles == []


def test_no_module_outgrows_a_screen_of_thought() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_check_sees_a_circle_and_an_upward_import() -> None:
    """The rules are not vacuous: a made-up graph with both faults is caught."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert [sorted(c) for c in strongly_connected(edges) if len(c) > 1] == [["a", "b", "c"]]
    assert floor_of("providers.http")[0] < floor_of("specgate.wire.sse")[0]
    assert floor_of("specgate.core.errors")[0] == 0


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out
