"""``@record``: built like a plain slotted dataclass, refused by mypy when a field is assigned."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from mypy import api

from specgate.core.records import record


@record
class Point:
    x: int
    tags: list[str] = dataclasses.field(default_factory=list)


def test_a_record_is_a_slotted_dataclass_with_its_defaults() -> None:
    point = Point(1)
    assert dataclasses.is_dataclass(point) and Point.__slots__ == ("x", "tags")
    assert point == Point(1, []) and point.tags is not Point(1).tags
    with pytest.raises(AttributeError):
        point.z = 3  # type: ignore[attr-defined]  # slots: no other attribute


def test_the_type_checker_refuses_assigning_a_field(tmp_path: Path) -> None:
    snippet = tmp_path / "assigns.py"
    snippet.write_text(
        "from providers.base import CallContext\n"
        "from specgate.core.types import SSEEvent\n"
        "event = SSEEvent('ping', {})\n"
        "event.data = {}\n"
        "ctx = CallContext(request_id='r')\n"
        "ctx.beta = True\n"
        "SSEEvent(1, {})\n"
    )
    out, _, status = api.run([str(snippet), "--follow-imports=silent", "--no-incremental", "--python-version=3.11"])
    assert status == 1, out
    assert 'Property "data" defined in "SSEEvent" is read-only' in out
    assert 'Property "beta" defined in "CallContext" is read-only' in out
    assert 'Argument 1 to "SSEEvent" has incompatible type "int"' in out  # typed as a dataclass
