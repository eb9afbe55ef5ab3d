"""Azure OpenAI (``type: azure_openai``): the OpenAI adapter with Azure's deployment URLs,
``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`` (the deployment is
the model name, or its ``model_ids`` entry), and its credentials: an ``api-key`` header from
``api_keys``, or Microsoft Entra ID bearer tokens (the client-credentials grant of ``entra:``,
for the ``https://cognitiveservices.azure.com/.default`` scope), refreshed five minutes before
they expire. The token call is a plain async POST (through the provider's ``proxy:``, like its
other calls; none of its ``headers``): nothing here blocks the event loop."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from providers.faults import Fault
from providers.outbound import Outbound
from specgate.core.config import EntraConfig, ProviderConfig
from specgate.core.errors import UpstreamError

SCOPE = "https://cognitiveservices.azure.com/.default"
_REFRESH_BEFORE_S = 300.0


class AzureEndpoint:
    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ValueError(f"provider {config.name!r} (type azure_openai) needs a base_url")
        self._base = config.base_url.rstrip("/")
        self._query = urlencode({"api-version": config.cloud.api_version or "2024-10-21"})
        self._deployments = dict(config.cloud.model_ids)
        entra = config.cloud.entra
        self._tokens = EntraTokens(config.name, entra, config.connect_timeout_s, Outbound(config)) if entra else None

    def url(self, upstream_model: str) -> str:
        deployment = quote(self._deployments.get(upstream_model, upstream_model), safe="")
        return f"{self._base}/openai/deployments/{deployment}/chat/completions?{self._query}"

    def key_headers(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    async def token_headers(self, request_id: str) -> dict[str, str]:
        return await self._tokens.headers(request_id) if self._tokens is not None else {}

    async def aclose(self) -> None:
        if self._tokens is not None:
            await self._tokens.aclose()


class EntraTokens:
    """Entra ID access tokens by the OAuth 2.0 client-credentials grant."""

    def __init__(self, provider: str, config: EntraConfig, timeout_s: float, outbound: Outbound) -> None:
        self._provider = provider
        self._outbound = outbound
        self._config = config
        self._timeout = aiohttp.ClientTimeout(total=max(timeout_s, 5.0))
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def headers(self, request_id: str) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._refresh_at:
            async with self._lock:
                if self._token is None or time.monotonic() >= self._refresh_at:
                    await self._fetch(request_id)
        return {"authorization": f"Bearer {self._token}"}

    async def _fetch(self, request_id: str) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret,
            "scope": SCOPE,
        }
        url = f"{self._config.authority_url}/{quote(self._config.tenant_id, safe='')}/oauth2/v2.0/token"
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
        try:
            proxy = self._outbound.proxy_for(url)
            async with self._session.post(url, data=form, timeout=self._timeout, proxy=proxy) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._failure(f"{type(exc).__name__}: {exc}", request_id) from None
        try:
            answer = orjson.loads(raw) if status == 200 else None
        except orjson.JSONDecodeError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise self._failure(f"token endpoint answered HTTP {status}: {raw[:300]!r}", request_id)
        assert isinstance(answer, dict)
        expires_in = answer.get("expires_in", 3600)
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = token
        self._refresh_at = time.monotonic() + max(0.0, lifetime - _REFRESH_BEFORE_S)

    def _failure(self, detail: str, request_id: str) -> UpstreamError:
        error = UpstreamError(
            502, "api_error", f"upstream {self._provider!r} could not obtain an Entra ID token", retryable=True
        )
        Fault(self._provider, error, detail).log(request_id)
        return error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
