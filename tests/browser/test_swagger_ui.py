"""Swagger UI at /docs in a real headless Chromium (selenium + Debian's chromium-driver).

The page is served by a real gateway; the test authorizes with a key, runs "Try it out" on
POST /v1/messages against the echo provider and reads the 200 response the page shows.

The browser is installed by `make test` / `.ci/run` (Makefile target `browser`). When it is
missing the test FAILS, with the install command; SPECGATE_SKIP_BROWSER=1 is the only way to
skip it, on purpose, on a machine where it cannot be installed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

KEY = "sk-swagger-ui"
BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hello from Swagger UI"}],
}
BROWSER_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the CI container runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,2000",
)


def find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    browser, chromedriver = find(BROWSER_CANDIDATES), find(("chromedriver",))
    if browser is None or chromedriver is None:
        message = (
            f"headless Chromium is required (browser: {browser}, chromedriver: {chromedriver}); "
            "install it with `make browser` (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("SPECGATE_SKIP_BROWSER") == "1":
            pytest.skip(message + " [skipped: SPECGATE_SKIP_BROWSER=1]")
        pytest.fail(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    session = webdriver.Chrome(options=options, service=service)
    session.set_page_load_timeout(30)
    try:
        yield session
    finally:
        session.quit()


def test_try_it_out_creates_a_message(driver: Any, gateway_factory: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    running = gateway_factory({"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]})
    wait = WebDriverWait(driver, 20)
    driver.get(running.url + "/docs/")

    # every operation of the spec is listed
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    listed = {
        (el.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text, el.get_attribute("id"))
        for el in driver.find_elements(By.CSS_SELECTOR, ".opblock")
    }
    from specgate.contract import spec

    for op in spec.operations(spec.bundle()):
        assert any(method == op.method and ident.endswith("-" + op.operation_id) for method, ident in listed), (
            op,
            listed,
        )

    # authorize with the API key (the spec's ApiKeyAuth scheme)
    driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
    modal = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
    section = next(s for s in modal.find_elements(By.CSS_SELECTOR, ".auth-container") if "ApiKeyAuth" in s.text)
    section.find_element(By.CSS_SELECTOR, "input").send_keys(KEY)
    section.find_element(By.CSS_SELECTOR, "button.authorize").click()
    modal.find_element(By.CSS_SELECTOR, "button.btn-done").click()

    # POST /v1/messages: Try it out, our body, Execute
    block = driver.find_element(By.CSS_SELECTOR, "[id$='-createMessage']")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
    block.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
    editor = wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "textarea.body-param__text"))
    driver.execute_script("arguments[0].value = ''", editor)
    editor.clear()
    editor.send_keys(json.dumps(BODY))
    block.find_element(By.CSS_SELECTOR, "button.execute").click()

    status = wait.until(
        lambda _: block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response td.response-col_status")
    )
    wait.until(lambda _: status.text.strip() != "")
    body_el = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response td.response-col_description pre")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", body_el)
    screenshot = tmp_path / "swagger-ui-try-it-out.png"
    driver.save_screenshot(str(screenshot))
    assert status.text.strip().startswith("200"), (status.text, body_el.text)
    message = json.loads(body_el.text)
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == [{"type": "text", "text": "Hello from Swagger UI", "citations": None}]
    assert screenshot.stat().st_size > 10_000
