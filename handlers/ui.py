"""The operator page: GET /ui (server-rendered), /ui/data (the same numbers, polled by the page)
and /ui/assets/<name> (its scripts and styles, kept in ``specgate/static``: no CDN).

Admin keys only (a virtual key gets 403): the page shows every key's traffic. The numbers come
from the ``/metrics`` exposition (``specgate.ops.snapshot``) and the usage ledger's last hour
(``GET /v1/usage?window=last_hour``), so the page agrees with both.
"""

from __future__ import annotations

import html
import time
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import orjson
from connexion import request
from starlette.responses import Response

from specgate.core.errors import NotFoundError, PermissionDeniedError
from specgate.dispatch import admission
from specgate.gateway import Gateway, gateway_of
from specgate.ops import snapshot

STATIC = Path(str(resources.files("specgate") / "static"))
ASSETS = {
    "uPlot.iife.min.js": "application/javascript",
    "uPlot.min.css": "text/css",
    "ui.js": "application/javascript",
    "ui.css": "text/css",
    "uPlot-LICENSE.txt": "text/plain",
}


def _admin_only(scope: Any) -> Gateway:
    key = admission.virtual_key_of(scope)
    if key is not None:
        raise PermissionDeniedError(f"key '{key.id}' is a virtual key; the operator page needs an admin key")
    return gateway_of(scope)


async def _operator_data(gateway: Gateway) -> dict[str, Any]:
    """Everything the page shows, at this moment."""
    return {
        "time": time.time(),
        **snapshot.read(gateway.metrics.render()).as_json(),
        "usage_last_hour": await gateway.governance.ledger.last_hour(),
        "work": {
            "jobs_running": gateway.jobs.running,
            "jobs_queued": gateway.jobs.queued,
            "batches_running": gateway.batches.running,
            "batch_requests_pending": gateway.batches.pending_requests,
        },
    }


def _cell(value: Any, name: str) -> str:
    text = "-" if value is None else f"{value:.6f}" if isinstance(value, float) else str(value)
    return f'<td data-field="{name}">{html.escape(text)}</td>'


def _rows(items: list[dict[str, Any]], columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    out = []
    for item in items:
        attrs = " ".join(f'data-{k.replace("_", "-")}="{html.escape(str(item[k]))}"' for k in key)
        out.append(f"<tr {attrs}>" + "".join(_cell(item.get(c), c) for c in columns) + "</tr>")
    return "\n".join(out)


USAGE_COLUMNS = ("key_id", "model", "requests", "errors", "refused", "input_tokens", "output_tokens",
                 "cache_read_input_tokens", "cache_creation_input_tokens", "count_tokens", "cost_usd")  # fmt: skip
PROVIDER_COLUMNS = ("provider", "requests", "share", "upstream_ok", "upstream_failed", "retries", "fallbacks", "health")


def render_page(data: dict[str, Any]) -> str:
    template = Template((STATIC / "ui.html").read_text(encoding="utf-8"))
    work = data["work"]
    values = {
        "requests": data["requests"],
        "errors": data["errors"],
        "error_rate": f"{data['error_rate'] * 100:.2f}",
        "p50_ms": "-" if data["p50_ms"] is None else data["p50_ms"],
        "p99_ms": "-" if data["p99_ms"] is None else data["p99_ms"],
        "usage_rows": _rows(data["usage_last_hour"], USAGE_COLUMNS, ("key_id", "model")),
        "provider_rows": _rows(data["providers"], PROVIDER_COLUMNS, ("provider",)),
        **{k: html.escape(str(v)) for k, v in work.items()},
        "data": html.escape(orjson.dumps(data).decode(), quote=True),
    }
    return template.substitute(values)


async def get_operator_page(user: str | None = None) -> Response:
    gateway = _admin_only(request.scope)
    page = render_page(await _operator_data(gateway))
    return Response(page, media_type="text/html", headers={"cache-control": "no-store"})


async def get_operator_data(user: str | None = None) -> Response:
    gateway = _admin_only(request.scope)
    body = orjson.dumps(await _operator_data(gateway))
    return Response(body, media_type="application/json", headers={"cache-control": "no-store"})


async def get_operator_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"name: no asset {name!r}")
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers={"cache-control": "max-age=3600"})
