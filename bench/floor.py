"""The floor: the least a Python gateway can do per request, measured in the same run as specgate.

A raw-ASGI pass-through on uvicorn (uvloop, httptools): read the body, parse it with orjson, check
the key (constant time), POST the bytes upstream on one shared aiohttp session, relay the status,
content type and body (a stream chunk by chunk). No routing, validation, metrics or logs.
``python -m bench.floor --port P --upstream URL --key K --upstream-key K2``.
"""

from __future__ import annotations

import argparse
import hmac
from typing import Any

import aiohttp
import orjson
import uvicorn

ARGS: argparse.Namespace
SESSION: list[aiohttp.ClientSession] = []


async def reply(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            SESSION.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2048)))
            await send({"type": "lifespan.startup.complete"})
        await SESSION[0].close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = dict(scope["headers"])
    if scope["path"] == "/health":
        return await reply(send, 200, b"{}")
    if not hmac.compare_digest(headers.get(b"x-api-key", b""), ARGS.key.encode()):
        return await reply(send, 401, b'{"type":"error"}')
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    raw = b"".join(chunks)
    body = orjson.loads(raw)
    out = {"content-type": "application/json", "x-api-key": ARGS.upstream_key, "anthropic-version": "2023-06-01"}
    async with SESSION[0].post(ARGS.upstream + scope["path"], data=raw, headers=out) as resp:
        kind = resp.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": resp.status, "headers": [(b"content-type", kind)]})
        if body.get("stream"):
            async for data in resp.content.iter_any():
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": await resp.read()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    for flag in ("--upstream", "--key", "--upstream-key"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    ARGS = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=ARGS.port, loop="uvloop", http="httptools", access_log=False)
