"""OAuth bearer tokens for Vertex AI from google-auth: Application Default Credentials (which
also cover workload identity federation and the metadata server), or the service-account JSON
file the config names (loaded as a service account only, as google-auth recommends).

google-auth is synchronous (token endpoint calls through ``requests``, the metadata server,
files), so loading and refreshing run in a worker thread, never on the event loop, one at a
time: every request that needs a token while a refresh runs waits for that one. A token is
refreshed before it expires (google-auth counts one as no longer valid some minutes before its
expiry, and the next call refreshes it first), and at once when the upstream refuses it (401:
tokens can be revoked early; ``reject``). A refresh is bounded: each HTTP call google-auth makes
gets ``timeout_s``, and a request waits at most ``timeout_s`` for it, then gets a 503 (a hanging
token or metadata server never hangs requests; a refresh still running is joined, not doubled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from providers.faults import Fault
from specgate.core.errors import UpstreamError

REFRESH_TIMEOUT_S = 10.0  # at most; a provider with a shorter timeout_s uses that


class GoogleTokens:
    """Bearer tokens for one provider; concurrent calls share one refresh."""

    def __init__(self, provider: str, credentials_file: str | None, scopes: tuple[str, ...], timeout_s: float) -> None:
        self._provider = provider
        self._file = credentials_file
        self._scopes = list(scopes)
        self._timeout_s = timeout_s
        self._credentials: Any = None
        self._transport: Any = None
        self._pending: asyncio.Future[Any] | None = None  # the refresh running in a worker thread

    async def headers(self, request_id: str) -> dict[str, str]:
        credentials = self._credentials
        if credentials is None or not credentials.valid:
            credentials = await self._refresh(request_id, force=False)
        return {"authorization": f"Bearer {credentials.token}"}

    async def reject(self, sent: Mapping[str, str], request_id: str) -> None:
        """The upstream answered 401 to a request that carried ``sent``: unless the token has
        been replaced since, refresh it now (once for all the requests refused with it)."""
        token = sent.get("authorization", "").removeprefix("Bearer ")
        if self._pending is None and self._credentials is not None and self._credentials.token != token:
            return
        await self._refresh(request_id, force=True)

    async def _refresh(self, request_id: str, *, force: bool) -> Any:
        if self._pending is None:
            self._pending = asyncio.ensure_future(asyncio.to_thread(self._fresh, force))
            self._pending.add_done_callback(self._settled)
        try:
            return await asyncio.wait_for(asyncio.shield(self._pending), self._timeout_s)
        except TimeoutError:
            error = UpstreamError(
                503,
                "api_error",
                f"upstream {self._provider!r} could not obtain Google credentials in time ({self._timeout_s:g} s)",
                retryable=True,
            )
            Fault(self._provider, error, "the google-auth token refresh did not finish").log(request_id)
            raise error from None
        except Exception as exc:  # google-auth raises many kinds (files, HTTP, JSON)
            raise self._failure(f"{type(exc).__name__}: {exc}", request_id) from None

    def _settled(self, done: asyncio.Future[Any]) -> None:
        if self._pending is done:
            self._pending = None
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter gave up on it

    def _fresh(self, force: bool) -> Any:
        """In a worker thread: load the credentials once, refresh them if they are not valid
        (or ``force``)."""
        import google.auth
        import google.auth.transport.requests
        from google.oauth2 import service_account

        if self._credentials is None:
            if self._file:
                load = service_account.Credentials.from_service_account_file
                credentials = load(self._file, scopes=self._scopes)  # type: ignore[no-untyped-call]
            else:
                credentials, _project = google.auth.default(scopes=self._scopes)
            self._transport = _Bounded(google.auth.transport.requests.Request(), self._timeout_s)
            self._credentials = credentials
        if force or not self._credentials.valid:
            self._credentials.refresh(self._transport)
        return self._credentials

    def _failure(self, detail: str, request_id: str | None) -> UpstreamError:
        error = UpstreamError(
            502, "api_error", f"upstream {self._provider!r} could not obtain Google credentials", retryable=True
        )
        Fault(self._provider, error, detail).log(request_id)
        return error


class _Bounded:
    """google-auth's ``requests`` transport with every call's timeout at most ``timeout_s``
    (its own default is 120 s, and some calls pass none)."""

    def __init__(self, inner: Any, timeout_s: float) -> None:
        self._inner = inner
        self._timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        given = kwargs.get("timeout")
        kwargs["timeout"] = min(given, self._timeout_s) if isinstance(given, int | float) else self._timeout_s
        return self._inner(*args, **kwargs)
