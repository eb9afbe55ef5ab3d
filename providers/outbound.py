"""What goes out with every upstream call of one provider besides the body: its headers (the
provider's own, the client's allow-listed ones, the config's fixed ones) and its proxy.

Headers, lowest precedence first: the client headers that ``forward_headers`` allows
(``specgate.core.config.upstream.forwards``: an auth header only when named exactly), then the
provider's protocol headers (content type, ``anthropic-version``, ...), then the config's fixed
``headers``; the provider key's header (``api_keys``) is set last, by the transport. Values are
never logged.

Proxy: ``proxy: env`` reads ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (either case) once, at
start-up, with the standard library's rules; an explicit ``proxy: http://user:pass@host:port``
is used for every call. ``~/.netrc`` is never read (aiohttp's ``trust_env`` would read it and
send its credentials to the upstream), which is why the environment is not left to aiohttp.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # stdlib, untyped

from specgate.core.config import ProviderConfig
from specgate.core.config.upstream import forwards


class Outbound:
    def __init__(self, config: ProviderConfig) -> None:
        self._fixed = dict(config.headers)
        self._patterns = config.forward_headers
        self._proxy = config.proxy
        self._env = urllib.request.getproxies_environment() if config.proxy == "env" else {}
        self._proxy_by_origin: dict[tuple[str, str], str | None] = {}

    def headers(self, own: Mapping[str, str], client: Mapping[str, str] | None) -> dict[str, str]:
        """The request headers of one call (before the key's), ``client``: the client's request headers."""
        if not self._patterns and not self._fixed:
            return dict(own)
        merged: dict[str, str] = {}
        if self._patterns and client:
            for name, value in client.items():
                lower = name.lower()
                if forwards(self._patterns, lower):
                    merged[lower] = value
        merged.update(own)
        merged.update(self._fixed)
        return merged

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL a call to ``url`` goes through, or None for a direct connection."""
        if self._proxy is None:
            return None
        if self._proxy != "env":
            return self._proxy
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxy_by_origin:
            self._proxy_by_origin[origin] = self._from_env(parts.scheme, parts.hostname or "", parts.port)
        return self._proxy_by_origin[origin]

    def _from_env(self, scheme: str, host: str, port: int | None) -> str | None:
        proxy = self._env.get(scheme)
        if not proxy:
            return None
        target = f"{host}:{port}" if port else host
        if proxy_bypass_environment(target, self._env):
            return None
        return proxy
