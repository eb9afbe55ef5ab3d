"""``python -m tests.support.debug_serve PORT SLOW_S``: the default gateway (echo provider) on an
asyncio loop in debug mode, in a process of its own; every slow-callback report (a callback
that ran longer than SLOW_S) is written to stderr as a line starting with ``SLOW ``."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn

from providers.registry import provider_types
from specgate.app import create_app
from specgate.core.config import default_config


class _Report(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            print("SLOW " + message.replace("\n", " "), file=sys.stderr, flush=True)


def main(port: int, slow_s: float) -> None:
    logging.getLogger("asyncio").addHandler(_Report(logging.WARNING))
    app = create_app(default_config(), provider_types=provider_types())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio", lifespan="on", log_level="warning")
    )
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = slow_s
    try:
        loop.run_until_complete(server.serve())
    finally:
        loop.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
