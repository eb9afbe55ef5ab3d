"""The key ring: admin and virtual keys, kept only as HMAC-SHA-256 digests.

Two kinds of key: admin keys (``auth.api_keys``, no limits; the principal is an opaque id keyed
with a server secret, ``specgate.access.keyid``) and virtual keys (``auth.virtual_keys``; the
principal is the key's ``id``). The digests are taken under ``auth.secret`` (or a random
per-process secret: they are derived from the config at each start, so they need not survive a
restart). A presented key is hashed the same way and compared with every digest in constant time
(``hmac.compare_digest``, no early exit), so neither content nor length leaks. Keys are never
logged or echoed.

An accepted key's principal is remembered in a bounded LRU (``CACHE_SIZE`` keys, least recently
used evicted), so a client sending the same key on every request pays the HMAC and the compare
loop once, not per request. What that does and does not weaken:

- only *accepted* keys are remembered: a wrong key always takes the full path (HMAC, compare
  against every digest), so guessing is exactly as slow and as uniform as without the cache, and
  flooding wrong keys cannot grow the cache or evict real entries;
- a hit is found by the dict's hash of the presented string: its time depends on the presented
  key's length and on whether *that exact* key was accepted recently, which tells the sender
  nothing it did not already hold (it is the key), and nothing about any other key;
- the raw keys of recent clients stay in this process's memory: the configuration they came
  from (``auth.api_keys``, ``auth.virtual_keys``) is in memory for the process's life anyway;
- the ring never changes after start (keys come from the config), so nothing needs invalidating.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from collections.abc import Sequence

from specgate.access.keyid import key_id
from specgate.core.config import VirtualKeySpec

CACHE_SIZE = 4096


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
        self._accepted: OrderedDict[str, str] = OrderedDict()  # presented key -> principal, bounded

    def digest(self, key: str) -> bytes:
        return hmac.digest(self._secret, key.encode("utf-8", "surrogateescape"), "sha256")

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def lookup(self, presented: str) -> str | None:
        cached = self._accepted.get(presented)
        if cached is not None:
            self._accepted.move_to_end(presented)
            return cached
        found = self._scan(presented)
        if found is not None:
            self._accepted[presented] = found
            if len(self._accepted) > CACHE_SIZE:
                self._accepted.popitem(last=False)
        return found

    def _scan(self, presented: str) -> str | None:
        digest = self.digest(presented)
        found: str | None = None
        for known, principal in self._entries:  # no early exit: same work whichever key matches
            if hmac.compare_digest(known, digest):
                found = principal
        return found
