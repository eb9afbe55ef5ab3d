"""The key ring: admin and virtual keys, kept only as HMAC-SHA-256 digests.

Two kinds of key: admin keys (``auth.api_keys``, no limits; the principal is an opaque id keyed
with a server secret, ``specgate.access.keyid``) and virtual keys (``auth.virtual_keys``; the
principal is the key's ``id``). The digests are taken under ``auth.secret`` (or a random
per-process secret: they are derived from the config at each start, so they need not survive a
restart). A presented key is hashed the same way and compared with every digest in constant time
(``hmac.compare_digest``, no early exit), so neither content nor length leaks. Keys are never
logged or echoed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from specgate.access.keyid import key_id
from specgate.core.config import VirtualKeySpec


class KeyRing:
    def __init__(
        self,
        api_keys: Sequence[str],
        virtual_keys: Sequence[VirtualKeySpec] = (),
        *,
        secret: str | bytes | None = None,
        key_id_secret: bytes,
    ) -> None:
        if secret is None:
            self._secret = secrets.token_bytes(32)
        else:
            self._secret = secret.encode() if isinstance(secret, str) else secret
        pairs = [(k, key_id(key_id_secret, k)) for k in api_keys] + [(v.key, v.id) for v in virtual_keys]
        self._entries = [(self.digest(k), principal) for k, principal in pairs]

    def digest(self, key: str) -> bytes:
        return hmac.digest(self._secret, key.encode("utf-8", "surrogateescape"), "sha256")

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def lookup(self, presented: str) -> str | None:
        digest = self.digest(presented)
        found: str | None = None
        for known, principal in self._entries:  # no early exit: same work whichever key matches
            if hmac.compare_digest(known, digest):
                found = principal
        return found
