"""``python -m tests.support.gc_serve PORT``: the default gateway (echo provider) in a process of its
own; on SIGUSR1 it runs a full collection and writes what it found to stderr, one line
``GC {"threshold": [...], "unreachable": N}``: the cyclic garbage left since the last probe."""

from __future__ import annotations

import gc
import json
import signal
import sys
from types import FrameType

import uvicorn

from providers.registry import provider_types
from specgate.app import create_app
from specgate.core.config import default_config


def _probe(_signum: int, _frame: FrameType | None) -> None:
    threshold = gc.get_threshold()
    gc.disable()  # nothing is collected but by the probes: the test counts every cycle
    unreachable = gc.collect()
    print("GC " + json.dumps({"threshold": threshold, "unreachable": unreachable}), file=sys.stderr, flush=True)


def main(port: int) -> None:
    signal.signal(signal.SIGUSR1, _probe)
    app = create_app(default_config(), provider_types=provider_types())
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
