"""AWS Signature Version 4 for one POST, as pure functions (hashlib and hmac only).

The same canonical request, string to sign and ``Authorization`` header as botocore's
``SigV4Auth.add_auth`` (checked byte for byte in ``tests/providers/bedrock/test_sigv4.py``),
without its per-request ``AWSRequest``/``HTTPHeaders`` objects: what is fixed per URL (host,
canonical path, canonical query) is computed once per URL, and the derived signing key once per
secret, day, region and service (by the caller, ``providers.bedrock.signing``).

As botocore does for every service but S3: the path is normalised (dot segments and empty
segments removed) and percent-encoded again (``%2F`` is signed as ``%252F``), the query string is
sorted as it is, the payload is always hashed, header values are trimmed and inner runs of
white space collapsed, and the headers botocore never signs (``SKIPPED_HEADERS``) are sent but
left out of the signature.
"""

from __future__ import annotations

import calendar
import email.utils
import functools
import hashlib
import hmac
import time
from typing import NamedTuple, Protocol
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# botocore.auth.SIGNED_HEADERS_BLACKLIST (the tests check that they stay the same)
SKIPPED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
# set by the signature itself: a header of these names given by the caller is replaced
_OWN_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Credentials(Protocol):
    """What a signature needs of a credential (botocore's ``ReadOnlyCredentials`` has it)."""

    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def token(self) -> str | None: ...


class Target(NamedTuple):
    """The parts of a URL a signature covers."""

    host: str  # the Host header botocore derives: lower-case, the port only when not the default
    path: str  # the canonical URI
    query: str  # the canonical query string


@functools.lru_cache(maxsize=512)  # bounded: a URL names a model, which a client may choose
def target(url: str) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    path = quote(_remove_dot_segments(parts.path) if parts.path else "/", safe="/~")
    pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&")) if parts.query else []
    return Target(host, path, "&".join(f"{key}={value}" for key, value in pairs))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, and empty segments dropped (botocore's ``remove_dot_segments``)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def timestamp(epoch_s: float | None = None) -> str:
    """``X-Amz-Date`` for a moment (now by default): ``20260102T030405Z``."""
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch_s))


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The derived key of a secret for a day (``YYYYMMDD``), region and service."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def sign(
    credentials: Credentials,
    key: bytes,
    region: str,
    service: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    amz_date: str,
) -> dict[str, str]:
    """The headers to send for a POST of ``body`` to ``url``: ``headers`` (names lower-cased),
    ``host`` unless given, ``x-amz-date`` (or ``date``, rewritten, when one is given, as botocore
    does), ``x-amz-security-token`` for temporary credentials and ``authorization``. ``key`` is
    ``signing_key(credentials.secret_key, amz_date[:8], region, service)``."""
    where = target(url)
    out = {name.lower(): value for name, value in headers.items()}
    for name in _OWN_HEADERS:
        out.pop(name, None)
    if "date" in out:
        out["date"] = email.utils.formatdate(calendar.timegm(time.strptime(amz_date, TIMESTAMP_FORMAT)))
    else:
        out["x-amz-date"] = amz_date
    if credentials.token:
        out["x-amz-security-token"] = credentials.token
    out.setdefault("host", where.host)
    names = sorted(name for name in out if name not in SKIPPED_HEADERS)
    signed = ";".join(names)
    given = out.get("x-amz-content-sha256")  # a payload hash the caller gives is signed as is
    canonical = "\n".join(
        (
            "POST",
            where.path,
            where.query,
            "".join(f"{name}:{' '.join(out[name].split())}\n" for name in names),
            signed,
            hashlib.sha256(body).hexdigest() if given is None else given,
        )
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.digest(key, to_sign.encode(), "sha256").hex()  # one C call, not an HMAC object
    credential = f"{credentials.access_key}/{scope}"
    out["authorization"] = f"{ALGORITHM} Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    return out
