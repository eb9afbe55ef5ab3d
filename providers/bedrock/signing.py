"""SigV4 signing with credentials from the standard AWS chain, via botocore.

botocore's resolver walks the chain (environment, shared credentials and config files with
``aws_profile``, ``credential_process``, web identity, SSO, container and instance roles). It
blocks (files, subprocesses, STS and IMDS calls), so resolving and refreshing run in a worker
thread, never on the event loop: credentials are resolved at the first call, and refreshed
when botocore says they are about to expire (its advisory window, 15 minutes before expiry).
Signing itself is pure computation and runs inline.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from providers.faults import Fault
from specgate.core.errors import UpstreamError


class AwsSigner:
    """Signs Bedrock requests for one provider (its region and optional profile)."""

    def __init__(self, provider: str, region: str, profile: str | None, service: str) -> None:
        self._provider = provider
        self._region = region
        self._profile = profile
        self._service = service
        self._credentials: Any = None  # botocore Credentials (possibly refreshable), once resolved
        self._keys: dict[tuple[str, str], bytes] = {}  # (secret, day) -> derived signing key, the current only
        self._lock = asyncio.Lock()

    async def sign(self, url: str, body: bytes, headers: Mapping[str, str], request_id: str) -> dict[str, str]:
        """``headers`` plus ``Host``, ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary
        credentials) and ``Authorization`` for a POST of ``body`` to ``url``."""
        frozen = await self._frozen(request_id)
        request = _SignedRequest(url, body, {"host": _host(url), **headers})
        signer = _sigv4()(frozen, self._service, self._region)
        signer.keys = self._keys
        signer.add_auth(request)
        # lower-case names, so a forwarded client header of the same name is replaced, not doubled
        return {name.lower(): str(value) for name, value in request.headers.items()}

    async def _frozen(self, request_id: str) -> Any:
        credentials = self._credentials
        if credentials is not None and not _needs_refresh(credentials):
            return credentials.get_frozen_credentials()
        async with self._lock:  # one resolution or refresh at a time; the others wait for it
            try:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._resolve)
                return await asyncio.to_thread(self._credentials.get_frozen_credentials)
            except UpstreamError:
                raise
            except Exception as exc:  # botocore raises many kinds (profile, process, STS, IMDS)
                raise self._failure(f"{type(exc).__name__}: {exc}", request_id) from None

    def _resolve(self) -> Any:
        import botocore.session

        session = botocore.session.Session(profile=self._profile)
        credentials = session.get_credentials()
        if credentials is None:
            raise self._failure("the AWS credential chain found no credentials", None)
        return credentials

    def _failure(self, detail: str, request_id: str | None) -> UpstreamError:
        error = UpstreamError(
            502, "api_error", f"upstream {self._provider!r} could not obtain AWS credentials", retryable=True
        )
        Fault(self._provider, error, detail).log(request_id)
        return error


class _SignedRequest:
    """The attributes botocore's ``SigV4Auth`` reads and writes, without ``AWSRequest``'s
    per-access preparation (the signer needs no more for a POST with a bytes body)."""

    def __init__(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        from botocore.compat import HTTPHeaders

        self.method = "POST"
        self.url = url
        self.body = body
        self.params: dict[str, str] = {}
        self.context: dict[str, Any] = {}
        self.headers = HTTPHeaders()
        for name, value in headers.items():
            self.headers[name] = value


@functools.cache
def _host(url: str) -> str:
    """The Host header botocore would derive from the URL (port only when not the default)."""
    from botocore.auth import _host_from_url

    host: str = _host_from_url(url)
    return host


@functools.cache
def _sigv4() -> Any:
    """botocore's SigV4 signer, reusing the derived signing key while the secret and day stay
    the same (``keys``: the owning ``AwsSigner``'s cache) instead of four HMACs per request."""
    from botocore.auth import SigV4Auth

    class SigV4(SigV4Auth):  # type: ignore[misc]
        keys: dict[tuple[str, str], bytes]

        def signature(self, string_to_sign: str, request: Any) -> str:
            secret, day = self.credentials.secret_key, request.context["timestamp"][0:8]
            key = self.keys.get((secret, day))
            if key is None:
                key = f"AWS4{secret}".encode()
                for part in (day, self._region_name, self._service_name, "aws4_request"):
                    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
                self.keys.clear()
                self.keys[(secret, day)] = key
            return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    return SigV4


def _needs_refresh(credentials: Any) -> bool:
    from botocore.credentials import RefreshableCredentials

    return isinstance(credentials, RefreshableCredentials) and bool(credentials.refresh_needed())
