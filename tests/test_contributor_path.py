"""The contributor path of CONTRIBUTING.md, proven end to end: a new endpoint is a YAML path file
(+ schema) and a handler function. From a copy of spec/ with one new path and a handler module in
a brand-new package, the real server validates and serves it, with no change to routing code."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from specgate.cli import main
from specgate.contract import spec
from tests.support.http import request

KEY = "sk-contrib"

PATH_FILE = """\
reverse:
  post:
    operationId: reverseText
    tags: [system]
    summary: Reverse a text
    requestBody:
      required: true
      content:
        application/json:
          schema:
            $ref: "../schemas/reverse.yaml#/ReverseRequest"
    responses:
      "200":
        description: The text, reversed
        content:
          application/json:
            schema:
              $ref: "../schemas/reverse.yaml#/ReverseResponse"
      "400":
        $ref: "../components.yaml#/responses/Error"
"""

SCHEMA_FILE = """\
ReverseRequest:
  type: object
  additionalProperties: false
  required: [text]
  properties:
    text:
      type: string
      maxLength: 100
ReverseResponse:
  type: object
  required: [reversed]
  properties:
    reversed:
      type: string
"""

HANDLER_MODULE = """\
from connexion import request
from starlette.responses import JSONResponse, Response

from specgate.core.scope import scope_state
from specgate.contract.validation import BODY_STATE_KEY


async def reverse_text(user: str | None = None) -> Response:
    body = scope_state(request.scope)[BODY_STATE_KEY]
    return JSONResponse({"reversed": body["text"][::-1]})
"""


@pytest.fixture
def contribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """spec/ copy + one path entry, one path file, one schema file; a new handler package."""
    spec_dir = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), spec_dir)
    (spec_dir / "paths" / "reverse.yaml").write_text(PATH_FILE)
    (spec_dir / "schemas" / "reverse.yaml").write_text(SCHEMA_FILE)
    root = spec_dir / "openapi.yaml"
    text = root.read_text()
    assert "\ncomponents:\n" in text
    root.write_text(
        text.replace("\ncomponents:\n", '\n  /v1/reverse:\n    $ref: "paths/reverse.yaml#/reverse"\ncomponents:\n')
    )
    package = f"contrib_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "reverse.py").write_text(textwrap.dedent(HANDLER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return spec_dir, package


def test_a_new_endpoint_needs_only_yaml_and_a_handler(
    contribution: tuple[Path, str], gateway_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_dir, package = contribution
    handlers = ("handlers", package)
    running = gateway_factory(
        {"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]},
        spec_dir=spec_dir,
        handler_packages=handlers,
    )
    auth = {"x-api-key": KEY}
    reply = request(running.url + "/v1/reverse", body={"text": "specgate"}, headers=auth)
    assert reply.status == 200, reply.body
    assert reply.json() == {"reversed": "etagceps"}
    assert reply.headers["request-id"].startswith("req_")

    # the spec is enforced for it like for every other route: body validation, security, methods
    bad = request(running.url + "/v1/reverse", body={"text": "x", "extra": 1}, headers=auth)
    assert bad.status == 400 and bad.json()["error"] == {
        "type": "invalid_request_error",
        "message": "extra: Extra inputs are not permitted",
    }
    too_long = request(running.url + "/v1/reverse", body={"text": "x" * 101}, headers=auth)
    assert too_long.status == 400 and too_long.json()["error"]["message"].startswith("text:")
    assert request(running.url + "/v1/reverse", body={"text": "x"}).status == 401
    assert request(running.url + "/v1/reverse", "GET", headers=auth).status == 405

    # it is documented in the served spec, and the existing routes still work
    served = request(running.url + "/openapi.json", "GET").json()
    assert served["paths"]["/v1/reverse"]["post"]["operationId"] == "reverseText"
    message = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    assert request(running.url + "/v1/messages", body=message, headers=auth).status == 200

    # and the tooling sees it
    assert main(["spec-check", "--spec-dir", str(spec_dir), "--handlers", *handlers]) == 0
    assert main(["routes", "--spec-dir", str(spec_dir), "--handlers", *handlers]) == 0
    out = capsys.readouterr().out
    assert "POST    /v1/reverse" in out and f"{package}.reverse.reverse_text" in out


def test_the_same_spec_without_the_handler_package_does_not_start(contribution: tuple[Path, str]) -> None:
    from specgate.app import create_app
    from specgate.contract.resolver import HandlerResolutionError

    spec_dir, _ = contribution
    with pytest.raises(HandlerResolutionError, match="'reverseText' has no handler: define `async def reverse_text"):
        create_app(spec_dir=spec_dir)
