"""A large batch runs with bounded concurrency and does not starve interactive requests."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any

import anthropic

from providers.base import CallContext
from providers.echo import EchoProvider
from specgate.core.config import ProviderConfig
from specgate.core.types import Json


class GaugeProvider(EchoProvider):
    """Echo that takes a little time and records how many calls were in flight at once."""

    type = "gauge"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.in_flight = 0
        self.max_in_flight = 0

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.002)
            return await super().create_message(request, upstream_model, ctx)
        finally:
            self.in_flight -= 1


def test_2000_requests_complete_while_interactive_traffic_is_served(gateway_factory: Any) -> None:
    gw = gateway_factory(
        {
            "providers": [{"name": "echo", "type": "echo"}, {"name": "gauge", "type": "gauge"}],
            "models": [{"match": "batch-*", "provider": "gauge"}, {"match": "*", "provider": "echo"}],
            "batches": {"max_concurrency": 8, "max_total_concurrency": 16},
        },
        extra_provider_types={"gauge": GaugeProvider},
    )
    c = anthropic.Anthropic(api_key="unused", base_url=gw.url, max_retries=0)
    ic = anthropic.Anthropic(api_key="unused", base_url=gw.url, max_retries=0)
    latencies: list[float] = []
    stop = threading.Event()

    def interactive() -> None:
        while not stop.is_set():
            began = time.monotonic()
            reply = ic.messages.create(model="chat", max_tokens=16, messages=[{"role": "user", "content": "ping"}])
            latencies.append(time.monotonic() - began)
            assert reply.content[0].text == "ping"  # type: ignore[union-attr]

    requests = [
        {
            "custom_id": f"req-{i:04d}",
            "params": {"model": "batch-m", "max_tokens": 16, "messages": [{"role": "user", "content": f"item {i}"}]},
        }
        for i in range(2000)
    ]
    thread = threading.Thread(target=interactive)
    batch = c.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    thread.start()
    began = time.monotonic()
    try:
        while c.messages.batches.retrieve(batch.id).processing_status != "ended":
            assert time.monotonic() - began < 60, "batch did not end"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    during = list(latencies)

    ended = c.messages.batches.retrieve(batch.id)
    assert ended.request_counts.succeeded == 2000 and ended.request_counts.processing == 0
    results = list(c.messages.batches.results(batch.id))
    ids = [r.custom_id for r in results]
    assert len(ids) == 2000 and set(ids) == {r["custom_id"] for r in requests}
    texts = {r.custom_id: r.result.message.content[0].text for r in results}  # type: ignore[union-attr]
    assert all(texts[f"req-{i:04d}"] == f"item {i}" for i in range(2000))

    gauge = gw.gateway.providers["gauge"]
    assert gauge.max_in_flight <= 8, "per-batch concurrency bound"
    assert gauge.max_in_flight >= 2, "the batch ran concurrently"
    assert len(during) >= 5, "interactive requests were answered during the batch"
    assert max(during) < 2.0 and statistics.median(during) < 0.5, during
    c.close()
    ic.close()
