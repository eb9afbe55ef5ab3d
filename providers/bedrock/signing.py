"""SigV4 signing with credentials from the standard AWS chain (botocore's resolver).

botocore's resolver walks the chain (environment, shared credentials and config files with
``aws_profile``, ``credential_process``, web identity, SSO, container and instance roles). It
blocks (files, subprocesses, STS and IMDS calls), so resolving and refreshing run in a worker
thread, never on the event loop: credentials are resolved at the first call and kept frozen;
static ones are used as they are from then on, refreshable ones are refreshed when botocore
says so (``refresh_needed``: its advisory window, 15 minutes before expiry), which is asked,
without a lock, at each signature. The signature itself is ``providers.bedrock.sigv4`` (pure,
inline), with the derived key kept while the credential, day and region stay the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from providers.bedrock import sigv4
from providers.faults import Fault
from specgate.core.errors import UpstreamError


class AwsSigner:
    """Signs Bedrock requests for one provider (its region and optional profile)."""

    def __init__(self, provider: str, region: str, profile: str | None, service: str) -> None:
        self._provider = provider
        self._region = region
        self._profile = profile
        self._service = service
        self._source: Any = None  # botocore's Credentials (possibly refreshable), once resolved
        self._refreshable = False
        self._frozen: sigv4.Credentials | None = None  # the keys in use
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret, day, derived signing key)
        self._stamp: tuple[int, str] = (-1, "")  # (epoch second, its X-Amz-Date)
        self._lock = asyncio.Lock()

    async def sign(self, url: str, body: bytes, headers: Mapping[str, str], request_id: str) -> dict[str, str]:
        """``headers`` (lower-case names, so a forwarded client header of the same name is
        replaced, not doubled) plus ``host``, ``x-amz-date``, ``x-amz-security-token``
        (temporary credentials) and ``authorization`` for a POST of ``body`` to ``url``."""
        frozen = self._frozen
        if frozen is None or (self._refreshable and self._source.refresh_needed()):
            frozen = await self._refresh(request_id)
        now = int(time.time())
        second, amz_date = self._stamp
        if second != now:
            amz_date = sigv4.timestamp(now)
            self._stamp = (now, amz_date)
        secret, day, key = self._key
        if secret != frozen.secret_key or day != amz_date[:8]:
            day = amz_date[:8]
            key = sigv4.signing_key(frozen.secret_key, day, self._region, self._service)
            self._key = (frozen.secret_key, day, key)
        return sigv4.sign(frozen, key, self._region, self._service, url, body, dict(headers), amz_date)

    async def _refresh(self, request_id: str) -> sigv4.Credentials:
        async with self._lock:  # one resolution or refresh at a time; the others wait for it
            current = self._frozen
            if current is not None and not (self._refreshable and self._source.refresh_needed()):
                return current  # another request refreshed them while this one waited
            try:
                if self._source is None:
                    self._source = await asyncio.to_thread(self._resolve)
                    self._refreshable = _is_refreshable(self._source)
                frozen: sigv4.Credentials = await asyncio.to_thread(self._source.get_frozen_credentials)
            except UpstreamError:
                raise
            except Exception as exc:  # botocore raises many kinds (profile, process, STS, IMDS)
                raise self._failure(f"{type(exc).__name__}: {exc}", request_id) from None
            self._frozen = frozen
            return frozen

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


def _is_refreshable(credentials: Any) -> bool:
    from botocore.credentials import RefreshableCredentials

    return isinstance(credentials, RefreshableCredentials)
