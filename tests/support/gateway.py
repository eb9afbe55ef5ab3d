"""A real gateway on a free loopback port, served by uvicorn in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from providers.registry import ProviderFactory, provider_types
from specgate.access.windows import Clock, system_clock
from specgate.app import create_app
from specgate.core.config import Config, default_config, parse_config
from specgate.core.scope import STATE_KEY
from specgate.gateway import Gateway
from tests.support.process import READY_S


@dataclass
class RunningGateway:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def gateway(self) -> Gateway:
        state: dict[str, Any] = self.server.lifespan.state  # type: ignore[attr-defined]
        gateway: Gateway = state[STATE_KEY]
        return gateway

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def make_config(data: Mapping[str, Any] | None, types: Mapping[str, ProviderFactory]) -> Config:
    if data is None:
        return default_config()
    return parse_config(dict(data), source="test-config.yaml", known_provider_types=tuple(types))


def start_gateway(
    config: Mapping[str, Any] | Config | None = None,
    *,
    extra_provider_types: Mapping[str, ProviderFactory] | None = None,
    spec_dir: Path | None = None,
    handler_packages: tuple[str, ...] = ("handlers",),
    validate_responses: bool = False,  # False: production (fast path); tests/specgate/wire/test_fastpath.py
    clock: Clock = system_clock,
) -> RunningGateway:
    types = {**provider_types(), **(extra_provider_types or {})}
    cfg = config if isinstance(config, Config) else make_config(config, types)
    app = create_app(
        cfg,
        provider_types=types,
        spec_dir=spec_dir,
        handler_packages=handler_packages,
        validate_responses=validate_responses,
        clock=clock,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_S  # a hung start, not a timing assert (see READY_S)
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningGateway(f"http://127.0.0.1:{port}", server, thread)


def gateways() -> Iterator[Any]:
    started: list[RunningGateway] = []

    def factory(*args: Any, **kwargs: Any) -> RunningGateway:
        running = start_gateway(*args, **kwargs)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()
