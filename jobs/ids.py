"""Job and replica identifiers.

A job id is ``"job_"`` followed by 26 lowercase base32 characters encoding 16 bytes (128 bits)
from :mod:`secrets`.  The id carries no information (no time, counter, host or owner), so knowing
one id says nothing about any other; guessing a live id is a 2**-128 event per try.
"""

from __future__ import annotations

import base64
import re
import secrets

JOB_ID_PREFIX = "job_"
JOB_ID_BYTES = 16
_JOB_ID_RE = re.compile(r"job_[a-z2-7]{26}")


def new_job_id() -> str:
    """Return a fresh unguessable job id (128 random bits)."""
    raw = secrets.token_bytes(JOB_ID_BYTES)
    return JOB_ID_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def is_job_id(value: str) -> bool:
    """True if ``value`` has the shape of a job id (lets callers answer 404 without a lookup)."""
    return _JOB_ID_RE.fullmatch(value) is not None


def new_replica_id() -> str:
    """Return a random replica id naming one registry process for leases."""
    return "rep_" + secrets.token_hex(8)
