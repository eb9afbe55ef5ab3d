"""How the gateway talks to an upstream, beyond where and with which key: a provider's fixed
``headers``, the client headers it ``forward_headers``, its outbound ``proxy``, and the
``server.retry_budget`` that bounds the attempts of one request across retries and fallbacks.

Header names are compared in lower case. Some names are never sent from the config or the
client because the transport owns them (``RESERVED_HEADERS``: framing, hop-by-hop, the body's
type and encoding). Names that carry credentials (``AUTH_HEADERS``) are forwarded only when
``forward_headers`` names them exactly: a glob such as ``*`` or ``x-*`` never matches them.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any
from urllib.parse import urlsplit

from specgate.core.config.models import RetryBudgetConfig
from specgate.core.config.reader import Reader

AUTH_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-bf-vk",
        "cookie",
        "api-key",
        "x-goog-api-key",
        "x-litellm-api-key",
    }
)
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "content-type",
        "content-encoding",
        "accept-encoding",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_PATTERN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z?\[\]-]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


def parse_outbound(r: Reader, d: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``headers``, ``forward_headers`` and ``proxy`` keys of one provider entry, as
    ``ProviderConfig`` keyword arguments."""
    return {
        "headers": _fixed_headers(r, d.get("headers"), f"{path}.headers"),
        "forward_headers": _forward_headers(r, d, path),
        "proxy": _proxy(r, d, path),
    }


def _fixed_headers(r: Reader, raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise r.fail(path, "must be a mapping of header name to value")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        key = str(name).lower()
        if not _TOKEN.match(key):
            raise r.fail(f"{path}.{name}", "is not a valid HTTP header name")
        if key in RESERVED_HEADERS:
            raise r.fail(f"{path}.{name}", "is set by the gateway's transport and cannot be configured")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise r.fail(f"{path}.{name}", "must be a string")
        text = str(value)
        if _BAD_VALUE.search(text):
            raise r.fail(f"{path}.{name}", "must not contain line breaks or NUL")  # the value itself is not echoed
        if key in headers:
            raise r.fail(f"{path}.{name}", "is given twice (header names are case-insensitive)")
        headers[key] = text
    return headers


def _forward_headers(r: Reader, d: dict[str, Any], path: str) -> tuple[str, ...]:
    names = tuple(n.lower() for n in r.strings(d, "forward_headers", path))
    for i, name in enumerate(names):
        where = f"{path}.forward_headers[{i}]"
        if not _PATTERN.match(name):
            raise r.fail(where, "must be a header name or a glob of one (x-portkey-*)")
        if name in RESERVED_HEADERS:
            raise r.fail(where, f"{name!r} is set by the gateway's transport and cannot be forwarded")
    return names


def forwards(patterns: tuple[str, ...], name: str) -> bool:
    """Whether a client header (lower-case ``name``) is forwarded under these ``forward_headers``."""
    if name in RESERVED_HEADERS:
        return False
    if name in AUTH_HEADERS:
        return name in patterns
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def _proxy(r: Reader, d: dict[str, Any], path: str) -> str | None:
    value: str | None = r.get(d, "proxy", path, str, None)
    if value is None or value == "env":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # never echo the value: a proxy URL may carry credentials
        raise r.fail(f"{path}.proxy", "must be 'env' or an http:// or https:// proxy URL with a host")
    return value


def parse_retry_budget(r: Reader, raw: Any, path: str) -> RetryBudgetConfig:
    """``server.retry_budget: {max_attempts, max_seconds}``; an explicit ``null`` lifts that bound."""
    d = r.mapping(raw, path, ("max_attempts", "max_seconds"))
    default = RetryBudgetConfig()
    attempts = (
        None
        if "max_attempts" in d and d["max_attempts"] is None
        else r.get(d, "max_attempts", path, int, default.max_attempts)
    )
    seconds = (
        None
        if "max_seconds" in d and d["max_seconds"] is None
        else r.get(d, "max_seconds", path, float, default.max_seconds)
    )
    if attempts is not None and attempts < 1:
        raise r.fail(f"{path}.max_attempts", "must be at least 1 (or null: unbounded)")
    if seconds is not None and seconds <= 0:
        raise r.fail(f"{path}.max_seconds", "must be greater than 0 (or null: unbounded)")
    return RetryBudgetConfig(max_attempts=attempts, max_seconds=seconds)
