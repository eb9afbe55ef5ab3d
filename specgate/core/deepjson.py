"""JSON for client-nested data: orjson first, an iterative encoder past orjson's depth limit.

The gateway accepts request bodies nested up to ``MAX_DEPTH`` levels (the limit of
``orjson.loads``; deeper is a 400, see ``too_deep`` and ``specgate.contract.validation``). ``orjson.dumps``
itself stops at 254 levels ("Recursion limit reached"), and the stdlib encoder at the
interpreter's recursion limit, so anything that serialises data a client nested (a tool
``input_schema``, a ``tool_use.input``, a whole request body) uses ``dumps`` here:

- the common, shallow value costs one ``orjson.dumps`` call, as before;
- only a value orjson refuses as too deep is written by ``_dumps_iterative``: an explicit stack
  walks the deep spine, and every subtree orjson can take is handed back to orjson, so the output
  is byte for byte what orjson would write (compact, keys in insertion order).

Nothing here recurses in Python, so no depth makes it raise ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

MAX_DEPTH = 1024  # deepest body ``orjson.loads`` parses (containers counted from the outermost)
TOO_DEEP_MESSAGE = f"nested deeper than {MAX_DEPTH} levels"
_ENCODE_TOO_DEEP = "Recursion limit reached"  # orjson.JSONEncodeError's message
_DECODE_TOO_DEEP = "depth limit exceeded"  # orjson.JSONDecodeError's msg

Default = Callable[[Any], Any]


def dumps(value: Any, *, default: Default | None = None) -> bytes:
    """``orjson.dumps(value, default=default)`` for a value of any depth."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError as exc:
        if str(exc) != _ENCODE_TOO_DEEP:
            raise
    return _dumps_iterative(value, default)


def too_deep(exc: orjson.JSONDecodeError) -> bool:
    """Whether ``orjson.loads`` refused a document for nesting deeper than ``MAX_DEPTH``."""
    return exc.msg == _DECODE_TOO_DEEP


def pruned(value: Any, levels: int) -> Any:
    """A copy of ``value`` at most ``levels`` levels deep: a dict or list on the last level is kept
    but emptied (so a check of its type still sees a dict or a list). Tuples become lists."""
    if not isinstance(value, (dict, list, tuple)):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]  # (source, its copy, the copy's level)
    while stack:
        source, target, level = stack.pop()
        if level >= levels:
            continue
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, sub in pairs:
            if isinstance(sub, (dict, list, tuple)):
                copy: Any = {} if isinstance(sub, dict) else []
                stack.append((sub, copy, level + 1))
                sub = copy
            if isinstance(target, dict):
                target[key] = sub
            else:
                target.append(sub)
    return root


class _Token(bytes):
    """Output bytes pushed on the stack between values (punctuation, ``"key":``)."""


def _leaf(value: Any, default: Default | None) -> bytes | None:
    """orjson's bytes for ``value``, or None when it is too deep for orjson (walk it instead)."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError as exc:
        if str(exc) != _ENCODE_TOO_DEEP:
            raise
        return None


def _dumps_iterative(value: Any, default: Default | None) -> bytes:
    out: list[bytes] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item)
            continue
        if not isinstance(item, (dict, list, tuple)):
            out.append(orjson.dumps(item, default=default))
            continue
        encoded = _leaf(item, default) if item is not value else None
        if encoded is not None:
            out.append(encoded)
            continue
        # push in reverse: the closing bracket first, then each element preceded by its separator
        if isinstance(item, dict):
            pending: list[Any] = [_Token(b"}")]
            for index, (key, sub) in enumerate(reversed(item.items())):
                if not isinstance(key, str):
                    raise orjson.JSONEncodeError("Dict key must be str")
                sep = b"" if index == len(item) - 1 else b","
                pending += [sub, _Token(sep + orjson.dumps(key) + b":")]
            pending.append(_Token(b"{"))
        else:
            pending = [_Token(b"]")]
            for index, sub in enumerate(reversed(item)):
                pending += [sub] if index == len(item) - 1 else [sub, _Token(b",")]
            pending.append(_Token(b"["))
        stack += pending
    return b"".join(out)
