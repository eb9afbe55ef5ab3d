"""Ended spans, batched and sent to an OTLP/HTTP endpoint by a thread of their own.

The request path encodes a span as it ends (``add``: ``specgate.ops.otlp``, a few microseconds)
and appends the bytes to a deque (atomic, no lock): the queue holds bytes, not span objects, so
the garbage collector has nothing to follow in it and a span's objects are freed as it ends (the
encoder is used by the request path's thread only). A daemon thread wakes every ``interval_s``
(or when a batch is full), joins what has ended into one ``ExportTraceServiceRequest`` and POSTs
it (``application/x-protobuf``, on a connection kept alive between exports). As the SDK's batch
processor does, spans beyond ``max_queue`` are dropped (counted, and said in a warning at the
next export) rather than held without bound when the endpoint is slow or down; a failed POST is
retried with backoff on 429, 502, 503, 504 and connection errors, then the batch is dropped.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from specgate.ops.otlp import Encoder
from specgate.ops.spans import Span

log = logging.getLogger("specgate.tracing")
RETRYABLE = frozenset({429, 502, 503, 504})


class BatchExporter:
    def __init__(
        self,
        endpoint: str,
        encoder: Encoder,
        *,
        interval_s: float,
        timeout_s: float = 10.0,
        max_queue: int = 2048,
        max_batch: int = 512,
        attempts: int = 3,
    ) -> None:
        self.endpoint = endpoint
        url = urlsplit(endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._connection: http.client.HTTPConnection | None = None  # kept alive between exports
        self.encoder = encoder
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.attempts = attempts
        self.dropped = 0
        self.sent = 0
        self._queue: deque[bytes] = deque()  # encoded spans
        self._wake = threading.Event()
        self._stopping = False
        self._export_lock = threading.Lock()  # one export at a time: the thread's, or a flush
        self._thread = threading.Thread(target=self._run, name="specgate-otlp-export", daemon=True)
        self._thread.start()

    def add(self, span: Span) -> None:
        """A span has ended (the request path: no lock, no I/O)."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            return
        queue.append(self.encoder.span(span))
        if len(queue) == self.max_batch:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Export everything that has ended (blocking)."""
        with self._export_lock:
            queue = self._queue
            while queue:
                batch = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
                self._send(self.encoder.batch(batch), len(batch))
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                log.warning("tracing: %d spans dropped (the export queue was full)", dropped)

    def _post(self, body: bytes) -> int:
        connection = self._connection
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._connection = kind(self._host, self._port, timeout=self.timeout_s)
        try:
            connection.request("POST", self._path, body, {"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
        except BaseException:
            connection.close()
            self._connection = None
            raise
        if response.will_close:
            connection.close()
            self._connection = None
        return response.status

    def _send(self, body: bytes, count: int) -> None:
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), self.timeout_s))
            try:
                status = self._post(body)
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
                problem = type(exc).__name__
                continue
            if 200 <= status < 300:
                self.sent += count
                return
            problem = f"HTTP {status}"
            if status not in RETRYABLE:
                break
        log.warning("tracing: %d spans not exported to the OTLP endpoint (%s)", count, problem)

    def close(self) -> None:
        """Stop the thread and export what is left (blocking: call it off the event loop)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(self.timeout_s * self.attempts + 5)
        self.flush()
        if self._connection is not None:
            self._connection.close()
