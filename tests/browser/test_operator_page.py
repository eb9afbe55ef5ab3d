"""The operator page /ui in a real headless Chromium: signed in with an admin key (HTTP Basic,
the password is the key), its charts drawn by the kept uPlot, and the numbers it shows equal to
what /metrics and /v1/usage say. A virtual key gets 403, no key a Basic challenge.

``SPECGATE_DOCS_SCREENSHOT=1`` also writes the screenshot to docs/operator-page.png."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

from specgate.ops import snapshot
from tests.support.http import request

pytestmark = pytest.mark.slow

ADMIN = "sk-operator-admin-0123456789"
TEAM = "sk-operator-team-0123456789"
HI: dict[str, Any] = {"max_tokens": 12, "messages": [{"role": "user", "content": "Hello operator page"}]}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _polls(driver: Any) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.polls || 0)"))


def test_operator_page_shows_what_metrics_and_usage_say(driver: Any, gateway_factory: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gw = gateway_factory(
        {
            "auth": {"api_keys": [ADMIN], "virtual_keys": [{"id": "team-a", "key": TEAM}]},
            "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": 5}}],
            "models": [{"match": "claude-*", "provider": "echo", "price": {"input": 3, "output": 15}},
                       {"match": "*", "provider": "echo"}],
        }
    )  # fmt: skip
    admin = anthropic.Anthropic(base_url=gw.url, api_key=ADMIN, max_retries=0)
    team = anthropic.Anthropic(base_url=gw.url, api_key=TEAM, max_retries=0)

    def traffic(rounds: int) -> None:
        for i in range(rounds):
            admin.messages.create(model="claude-sonnet", **HI)
            team.messages.create(model="claude-haiku" if i % 2 else "local-model", **HI)
            with pytest.raises(anthropic.NotFoundError):
                admin.models.retrieve("no-such-model")  # a 404: counted as an error

    traffic(3)
    assert request(gw.url + "/ui", method="GET", headers={"x-api-key": TEAM}).status == 403
    challenge = request(gw.url + "/ui", method="GET")
    assert challenge.status == 401 and challenge.headers["www-authenticate"].startswith("Basic")

    host = gw.url.removeprefix("http://")
    driver.get(f"http://operator:{ADMIN}@{host}/ui")
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".uplot canvas")) == 3)
    # live traffic while the page polls, so the charts have a line to draw
    background = threading.Thread(target=traffic, args=(6,))
    background.start()
    while background.is_alive():
        time.sleep(0.1)
    background.join()
    settled = _polls(driver) + 2
    wait.until(lambda d: _polls(d) >= settled)  # a poll after the last request: the page is current

    # read in one script: a poll re-renders the tables, so element handles could go stale
    shown = driver.execute_script(
        """
        const rows = (sel) => [...document.querySelectorAll(sel + " tbody tr")];
        return {
          requests: document.getElementById("requests-total").textContent,
          errors: document.getElementById("errors-total").textContent,
          usage: rows("#usage").map((tr) => ({key: tr.dataset.keyId, model: tr.dataset.model,
            cells: Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.textContent]))})),
          providers: rows("#providers").map((tr) => tr.dataset.provider),
        };
        """
    )
    shown_requests, shown_errors = int(shown["requests"]), int(shown["errors"])
    shown_usage = {(row["key"], row["model"]): row["cells"] for row in shown["usage"]}
    shown_providers = shown["providers"]
    driver.set_window_size(1400, 1000)
    screenshot = tmp_path / "operator-page.png"
    driver.save_screenshot(str(screenshot))

    metrics = snapshot.read(request(gw.url + "/metrics", method="GET").body)
    assert shown_requests == metrics.requests == 9 * 3
    assert shown_errors == metrics.errors == 9
    assert shown_providers == ["echo"]
    rows = request(gw.url + "/v1/usage?window=last_hour", method="GET", headers={"x-api-key": ADMIN}).json()["data"]
    assert len(rows) == 3 and sum(r["requests"] for r in rows) == 18
    assert set(shown_usage) == {(r["key_id"], r["model"]) for r in rows}
    for row in rows:
        shown = shown_usage[(row["key_id"], row["model"])]
        for name in ("requests", "errors", "refused", "input_tokens", "output_tokens", "count_tokens"):
            assert int(shown[name]) == row[name], (name, shown, row)
        assert shown["cost_usd"] == ("-" if row["cost_usd"] is None else f"{row['cost_usd']:.6f}")
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("SPECGATE_DOCS_SCREENSHOT") == "1":
        shutil.copy(screenshot, DOCS / "operator-page.png")
