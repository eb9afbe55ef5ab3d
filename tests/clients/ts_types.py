"""What the installed TypeScript SDK's declarations say is always present in a response.

Read from its ``.d.mts`` files at run time, so a new SDK pin brings its own list: a property
written ``name: T`` (possibly ``T | null``) must be there, ``name?: T`` may be absent."""

from __future__ import annotations

import re
from pathlib import Path

SDK = Path("@anthropic-ai") / "sdk"
MESSAGES = SDK / "resources" / "messages" / "messages.d.mts"
BETA_MESSAGES = SDK / "resources" / "beta" / "messages" / "messages.d.mts"
MODELS = SDK / "resources" / "models.d.mts"
PROPERTY = re.compile(r"^ {4}(?:readonly )?(\w+): ", re.MULTILINE)  # top level of the body only


def required_properties(node_modules: Path, declarations: Path, interface: str) -> frozenset[str]:
    text = (node_modules / declarations).read_text()
    start = text.index(f"export interface {interface} {{")
    body = text[start : text.index("\n}", start)]
    names = frozenset(PROPERTY.findall(body))
    assert names, f"no properties found for {interface} in {declarations}"
    return names
