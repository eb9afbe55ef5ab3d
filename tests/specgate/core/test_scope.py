"""The request's shared values in its scope: the headers map read once per header list."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from specgate.core.scope import RequestHeaders, headers_of


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "headers": headers}


def test_the_first_of_repeated_headers_wins_as_starlette_reads_it() -> None:
    raw = [(b"anthropic-beta", b"a"), (b"x-api-key", b"k"), (b"anthropic-beta", b"b")]
    scope = _scope(raw)
    assert headers_of(scope)[b"anthropic-beta"] == b"a"
    mine, theirs = RequestHeaders(scope), Headers(raw=raw)
    for name in ("anthropic-beta", "Anthropic-Beta", "x-api-key", "x-bf-async"):
        assert mine.get(name) == theirs.get(name)
    assert mine.get("x-bf-async", "no") == "no"


def test_built_once_per_header_list_and_again_for_a_new_one() -> None:
    scope = _scope([(b"content-length", b"5")])
    first = headers_of(scope)
    assert headers_of(scope) is first  # the same list: the same map
    scope["headers"] = [(b"content-length", b"7")]  # a layer replaced the list (a chunked body's length)
    assert headers_of(scope)[b"content-length"] == b"7"


def test_latin1_values_decode_as_starlette_decodes_them() -> None:
    raw = [(b"x-name", "caf\u00e9".encode("latin-1"))]
    assert RequestHeaders(_scope(raw)).get("x-name") == Headers(raw=raw).get("x-name") == "caf\u00e9"
