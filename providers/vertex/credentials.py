"""OAuth bearer tokens for Vertex AI from google-auth: Application Default Credentials (which
also cover workload identity federation and the metadata server), or the service-account JSON
file the config names (loaded as a service account only, as google-auth recommends).

google-auth is synchronous (token endpoint calls through ``requests``, the metadata server,
files), so loading and refreshing run in a worker thread, never on the event loop. A token is
refreshed before it expires: google-auth counts one as no longer valid some minutes before its
expiry (its refresh threshold), and the next call then refreshes it first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from providers.faults import Fault
from specgate.core.errors import UpstreamError


class GoogleTokens:
    """Bearer tokens for one provider; concurrent calls share one refresh."""

    def __init__(self, provider: str, credentials_file: str | None, scopes: tuple[str, ...]) -> None:
        self._provider = provider
        self._file = credentials_file
        self._scopes = list(scopes)
        self._credentials: Any = None
        self._transport: Any = None
        self._lock = asyncio.Lock()

    async def headers(self, request_id: str) -> dict[str, str]:
        credentials = self._credentials
        if credentials is None or not credentials.valid:
            async with self._lock:
                try:
                    credentials = await asyncio.to_thread(self._fresh)
                except Exception as exc:  # google-auth raises many kinds (files, HTTP, JSON)
                    raise self._failure(f"{type(exc).__name__}: {exc}", request_id) from None
        return {"authorization": f"Bearer {credentials.token}"}

    def _fresh(self) -> Any:
        """In a worker thread: load the credentials once, refresh them if they are not valid."""
        import google.auth
        import google.auth.transport.requests
        from google.oauth2 import service_account

        if self._credentials is None:
            if self._file:
                load = service_account.Credentials.from_service_account_file
                credentials = load(self._file, scopes=self._scopes)  # type: ignore[no-untyped-call]
            else:
                credentials, _project = google.auth.default(scopes=self._scopes)
            self._transport = google.auth.transport.requests.Request()
            self._credentials = credentials
        if not self._credentials.valid:
            self._credentials.refresh(self._transport)
        return self._credentials

    def _failure(self, detail: str, request_id: str | None) -> UpstreamError:
        error = UpstreamError(
            502, "api_error", f"upstream {self._provider!r} could not obtain Google credentials", retryable=True
        )
        Fault(self._provider, error, detail).log(request_id)
        return error
