"""Key ids: the opaque principal id of an admin key, keyed with a server secret.

An admin key's principal id owns its jobs and batches and is the ``key_id`` of the request log
and of ``/metrics``. It is ``key_`` + the first 16 hex digits of
``HMAC-SHA-256(secret, "specgate-key-id\\0" + key)``: without the secret nobody can check a guessed
key against a published id, and two deployments give the same key different ids. (Virtual keys
use their configured ``id``.)

The id must be the same in every worker, replica and restart that shares a job store, or jobs and
batches disappear from their owners' view; so the secret is, in this order:

1. ``auth.key_id_secret`` (``${ENV}`` allowed) -- the one to set with several replicas;
2. derived from ``auth.secret`` (``HMAC(auth.secret, "specgate-key-id")``);
3. kept in the durable job store: ``<db>.key-id-secret`` beside a SQLite file (mode 0600, created
   once, atomically) or the Redis key ``specgate:key-id-secret`` (``SET NX``), made by whichever
   process comes first;
4. with the memory store: ``$SPECGATE_KEY_ID_SECRET``, which ``specgate serve`` draws once for
   its workers; else random per process (nothing outlives the process then anyway).

Changing the secret changes every admin key's id: like a key rotation, the old id's jobs and
batches are no longer listed for the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from specgate.core.config import Config
from specgate.core.redis_url import connect, is_redis_url

ENV = "SPECGATE_KEY_ID_SECRET"  # set by ``specgate serve`` for its workers (memory store only)
REDIS_KEY = "specgate:key-id-secret"
_LABEL = b"specgate-key-id"


def key_id(secret: bytes, key: str) -> str:
    digest = hmac.new(secret, _LABEL + b"\x00" + key.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return "key_" + digest.hexdigest()[:16]


def configured_secret(config: Config) -> bytes | None:
    """The secret the config gives (steps 1 and 2), or None."""
    if config.auth.key_id_secret is not None:
        return config.auth.key_id_secret.encode()
    if config.auth.secret is not None:
        return hmac.digest(config.auth.secret.encode(), _LABEL, "sha256")
    return None


async def resolve_secret(config: Config, environ: Mapping[str, str] | None = None) -> bytes:
    """The key-id secret of this process (the four steps above)."""
    given = configured_secret(config)
    if given is not None:
        return given
    store = config.jobs.store
    if store.startswith("sqlite:///"):
        return _file_secret(Path(store[len("sqlite:///") :] + ".key-id-secret"))
    if is_redis_url(store):
        return await _redis_secret(store)
    from_env = (os.environ if environ is None else environ).get(ENV)
    return from_env.encode() if from_env else secrets.token_bytes(32)


def _file_secret(path: Path) -> bytes:
    """The secret in ``path``; created first (a temporary file linked into place, so a concurrent
    worker either wins the link or reads a complete file)."""
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp: mode 0600
            f.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"{path}: the key-id secret is shorter than 32 characters")
    return text.encode()


async def _redis_secret(url: str) -> bytes:
    client = connect(url, max_connections=2, timeout=5, socket_timeout=5)
    try:
        await client.set(REDIS_KEY, secrets.token_hex(32), nx=True)
        value = await client.get(REDIS_KEY)
    finally:
        await client.aclose()
    if not value:
        raise ValueError(f"the job store lost {REDIS_KEY!r} while it was being read")
    return value.encode() if isinstance(value, str) else bytes(value)
