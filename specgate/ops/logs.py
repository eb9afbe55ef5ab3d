"""Log formatting: one JSON object per line, or a human-readable line when stderr is a terminal.

The request log (logger ``specgate.access``) passes its fields as ``extra={"fields": {...}}``;
both formats print them. ``logging_config`` is a ``dictConfig`` handed to uvicorn, so every
worker process configures the same way before it serves.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from specgate.core import deepjson

FIELDS_ATTR = "fields"
FORMATS = ("auto", "json", "text")


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return deepjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2025-01-01T00:00:00.000Z INFO specgate.access: request route=/v1/messages status=200 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            line += "".join(f" {k}={_short(v)}" for k, v in fields.items() if v is not None)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else deepjson.dumps(value, default=str).decode()
    return text if len(text) <= 200 else text[:200] + "…"


def resolve_format(fmt: str) -> str:
    """``auto`` -> ``text`` on a terminal, else ``json``."""
    if fmt == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return fmt


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the root, uvicorn's and specgate's loggers."""
    formatter = (
        "specgate.ops.logs.JsonFormatter" if resolve_format(fmt) == "json" else "specgate.ops.logs.TextFormatter"
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": upper},
        "loggers": {
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": upper, "propagate": True},
        },
    }
