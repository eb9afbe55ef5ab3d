"""Where `make node-clients` put the pinned real clients (tests/clients/package-lock.json).

The cache lives under the venv (``<venv>/node``) so `make clean` removes it with the venv;
``SPECGATE_NODE_DIR`` points elsewhere. A missing install is a test failure with the advice to
fix it, never a skip: these clients are the judges of issue 13.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLAUDE_CODE_VERSION = "2.1.332"
TS_SDK_VERSION = "1.15.0"


@dataclass(frozen=True)
class NodeClients:
    node: Path
    node_modules: Path

    @property
    def claude(self) -> Path:
        return self.node_modules / ".bin" / "claude"


def node_dir() -> Path:
    return Path(os.environ.get("SPECGATE_NODE_DIR") or Path(sys.prefix) / "node")


def locate() -> NodeClients | str:
    """The installed clients, or why they cannot be used (a sentence for ``pytest.fail``)."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        return "node/npm not found on PATH: install Node.js >= 20 with npm, then run `make node-clients`"
    base = node_dir()
    if not (base / ".installed").is_file():
        return f"the pinned Node clients are not installed in {base}: run `make node-clients` (`make test` does)"
    clients = NodeClients(Path(node), base / "node_modules")
    for package, version in (("claude-code", CLAUDE_CODE_VERSION), ("sdk", TS_SDK_VERSION)):
        manifest = clients.node_modules / "@anthropic-ai" / package / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return f"@anthropic-ai/{package}@{version} is not what {base} holds: run `make node-clients`"
    return clients
