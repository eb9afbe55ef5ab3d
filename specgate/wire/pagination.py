"""Anthropic-style cursor pagination over a list that is already sorted newest first.

``after_id`` pages towards older items, ``before_id`` towards newer ones; the page always carries
``has_more``, ``first_id`` and ``last_id`` (the SDKs loop on them). An id that is not in the list
gives an empty last page rather than an error, so an item deleted during an auto-paginating walk
ends the walk instead of failing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from specgate.contract import rules
from specgate.core.errors import InvalidRequestError

T = TypeVar("T")


def page(
    items: Sequence[T],
    *,
    id_of: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
    limit: int = 20,
    before_id: str | None = None,
    after_id: str | None = None,
) -> dict[str, Any]:
    rules.check_page({"before_id": before_id, "after_id": after_id})
    if not 1 <= limit <= 1000:
        raise InvalidRequestError("limit: Input should be between 1 and 1000")
    ids = [id_of(item) for item in items]
    if after_id:
        start = ids.index(after_id) + 1 if after_id in ids else len(ids)
        chosen = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before_id:
        end = ids.index(before_id) if before_id in ids else 0
        begin = max(end - limit, 0)
        chosen = items[begin:end]
        has_more = begin > 0
    else:
        chosen = items[:limit]
        has_more = limit < len(items)
    data = [render(item) for item in chosen]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": id_of(chosen[0]) if chosen else None,
        "last_id": id_of(chosen[-1]) if chosen else None,
    }
