"""The span exporter: batches reach a real OTLP/HTTP receiver on loopback; beyond the queue's
bound spans are dropped and said so, and an endpoint that is down loses the batch, not the
process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from specgate.ops.export import BatchExporter
from specgate.ops.otlp import Encoder
from specgate.ops.spans import SERVER, Span
from tests.fakes.otlp_receiver import OTLPReceiver
from tests.support.ports import free_port


def spans(exporter: BatchExporter, count: int) -> None:
    for i in range(count):
        Span(i + 1, i + 1, f"span {i}", SERVER, attributes={"n": i}, sink=exporter.add).end()


async def test_batches_arrive_and_the_queue_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    receiver = OTLPReceiver()
    await receiver.start()
    exporter = BatchExporter(receiver.endpoint, Encoder({"service.name": "t"}, "s", "1"), interval_s=3600,
                             max_queue=5, max_batch=2)  # fmt: skip
    try:
        spans(exporter, 7)
        with caplog.at_level(logging.WARNING, "specgate.tracing"):
            await asyncio.to_thread(exporter.flush)
        assert [s.name for s in receiver.spans] == [f"span {i}" for i in range(5)]
        assert receiver.requests == 3 and exporter.sent == 5  # batches of 2, 2, 1
        assert [s.attributes["n"] for s in receiver.spans] == [0, 1, 2, 3, 4]
        assert "2 spans dropped" in caplog.text
    finally:
        await asyncio.to_thread(exporter.close)
        await receiver.stop()


def test_an_endpoint_that_is_down_loses_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there (tests.support.ports)
    exporter = BatchExporter(f"http://127.0.0.1:{port}/v1/traces", Encoder({}, "s", "1"), interval_s=3600,
                             attempts=2, timeout_s=1)  # fmt: skip
    spans(exporter, 3)
    with caplog.at_level(logging.WARNING, "specgate.tracing"):
        exporter.close()
    assert exporter.sent == 0 and "3 spans not exported" in caplog.text
    assert str(port) not in caplog.text  # the endpoint is not logged (it may carry a token)
