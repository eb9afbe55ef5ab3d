"""The fast path (specgate/wire/fastpath.py): which operations it takes from the spec, which requests
it serves and which it hands to connexion, and that both lanes answer byte for byte alike.

The parity tests send one battery of requests to two real gateways: the production setting
(fast path on) and connexion alone with response validation on, and compare status, headers and
bodies (request ids, message ids and timings normalised).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.messages import create_message
from specgate.contract import spec
from specgate.contract.resolver import HandlerResolver
from specgate.wire import fastpath
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.support.http import Reply, request

ADMIN = "sk-admin-fastpath-0123456789"
VK_CLAUDE = "sk-vk-claude-0123456789abcd"
VK_LIMITED = "sk-vk-limited-0123456789abc"
WRONG = "sk-wrong-0123456789abcdefgh"
FAST_OPERATIONS = {
    ("POST", "/v1/messages"),
    ("POST", "/anthropic/v1/messages"),
    ("POST", "/api/anthropic/v1/messages"),
    ("POST", "/api/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/anthropic/v1/messages/count_tokens"),
    ("POST", "/api/anthropic/v1/messages/count_tokens"),
}


def config(fast_path: bool, anthropic_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {
        "server": {"fast_path": fast_path, "max_body_bytes": 64 * 1024},
        "auth": {
            "api_keys": [ADMIN],
            "virtual_keys": [
                {"id": "claude-only", "key": VK_CLAUDE, "models": ["claude-*"]},
                {"id": "limited", "key": VK_LIMITED, "rpm": 2},
            ],
        },
        "providers": [
            {"name": "echo", "type": "echo"},
            {"name": "ant", "type": "anthropic", "base_url": anthropic_url, "api_keys": ["ant-key"], "max_retries": 0},
        ],
        "models": [{"match": "ant-*", "provider": "ant"}, {"match": "*", "provider": "echo"}],
    }


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": [{"role": "user", "content": "Hi"}], **extra}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def basic(key: str) -> str:
    return "Basic " + b64(f"user:{key}")


def _claude_code() -> tuple[dict[str, str], Any]:
    """Claude Code's real request (tests/clients/fixtures), with this battery's key."""
    fixtures = Path(__file__).resolve().parents[2] / "clients" / "fixtures"
    captured = json.loads((fixtures / "claude_code_headers.json").read_text())["headers"]
    headers = {k: v for k, v in captured.items() if k != "content-type"} | {"x-api-key": ADMIN}
    return headers, json.loads((fixtures / "claude_code_request.json").read_text())


CLAUDE_CODE_HEADERS, CLAUDE_CODE_BODY = _claude_code()


# ---- which operations the spec makes fast


def test_the_spec_decides_which_operations_are_fast() -> None:
    document = spec.bundle()
    resolver = HandlerResolver()
    fast = fastpath.compile_operations(document, spec.operations(document), resolver.resolve)
    assert set(fast) == FAST_OPERATIONS  # batches, models, the wildcard...: connexion only
    native = fast[("POST", "/v1/messages")]
    assert native.operation_id == "createMessage"
    assert [p.name for p in native.params] == [
        b"anthropic-version",
        b"anthropic-beta",
        b"anthropic-workspace-id",
        b"anthropic-user-profile-id",
        b"x-bf-async",
        b"x-bf-async-id",
        b"x-bf-async-job-result-ttl",
    ]
    assert native.schemes is not None
    assert [(s.kind, s.header, s.rule.label) for s in native.schemes] == [
        ("header", b"x-api-key", "x-api-key"),
        ("bearer", b"authorization", "bearer"),
        ("basic", b"authorization", "basic"),
        ("header", b"x-bf-vk", "x-bf-vk"),
    ]
    assert [q.name for q in native.query] == ["beta"]
    assert native.accepts_query(b"beta=true") and not native.accepts_query(b"beta=true&other=1")
    assert native.body.is_valid(body()) and not native.body.is_valid(body(max_tokens="many"))
    open_doc = spec.without_security(document)
    assert (
        fastpath.compile_operations(open_doc, spec.operations(open_doc), resolver.resolve)[
            ("POST", "/v1/messages")
        ].schemes
        is None
    )


def test_query_verdicts_are_remembered_within_bounds() -> None:
    document = spec.bundle()
    fast = fastpath.compile_operations(document, spec.operations(document), HandlerResolver().resolve)
    native = fast[("POST", "/v1/messages")]
    cases = [b"beta=true", b"beta=true&other=1", b"beta=", b"beta=true&beta=false", b"other"]
    first = [native.accepts_query(raw) for raw in cases]
    assert first == [True, False, True, True, False]
    assert [native.accepts_query(raw) for raw in cases] == first  # remembered: the same verdicts
    assert native.query_verdicts == dict(zip(cases, first, strict=True))
    long = b"beta=" + b"x" * fastpath.QUERY_CACHE_BYTES
    assert native.accepts_query(long) and long not in native.query_verdicts  # too long to keep
    for i in range(fastpath.QUERY_CACHE_SIZE + 10):  # a flood of distinct strings: the bound holds
        assert not native.accepts_query(b"x%d=1" % i)
    assert len(native.query_verdicts) == fastpath.QUERY_CACHE_SIZE
    assert native.accepts_query(b"beta=true") and not native.accepts_query(b"x9999=1")


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(spec.bundle())
    edit(document)
    return document


@pytest.mark.parametrize(
    "edit",
    [
        # an info function the fast path does not know: it cannot authenticate as connexion would
        lambda d: d["components"]["securitySchemes"]["ApiKeyAuth"].update({"x-apikeyInfoFunc": "os.getenv"}),
        # a requirement of two schemes at once
        lambda d: d.update({"security": [{"ApiKeyAuth": [], "BearerAuth": []}]}),
        # a cookie parameter
        lambda d: d["paths"]["/v1/messages"]["post"]["parameters"].append(
            {"name": "session", "in": "cookie", "schema": {"type": "string"}}
        ),
        # a required query parameter (a request without it must get connexion's 400)
        lambda d: d["paths"]["/v1/messages"]["post"]["parameters"].append(
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        # another body type
        lambda d: d["paths"]["/v1/messages"]["post"].update(
            {"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}}
        ),
    ],
    ids=["unknown-info-function", "and-of-schemes", "cookie-parameter", "required-query", "other-body-type"],
)
def test_operations_the_fast_path_cannot_mirror_stay_on_connexion(edit: Callable[[dict[str, Any]], None]) -> None:
    document = _edited(edit)
    operation = next(o for o in spec.operations(document) if o.path == "/v1/messages")
    with pytest.raises(fastpath.NotEligible):
        fastpath.compile_operation(document, operation, create_message)


def test_a_handler_without_a_fast_entry_stays_on_connexion() -> None:
    document = spec.bundle()
    operation = next(o for o in spec.operations(document) if o.path == "/v1/messages")

    async def plain(user: str | None = None) -> None:
        return None

    with pytest.raises(fastpath.NotEligible, match="no fast entry"):
        fastpath.compile_operation(document, operation, plain)


# ---- which lane serves which request


def lanes(url: str) -> dict[str, float]:
    text = request(url + "/metrics", method="GET", headers={"x-api-key": ADMIN}).body.decode()
    return {m[1]: float(m[2]) for m in re.finditer(r'^specgate_fast_path_total\{lane="(\w+)"\} (\S+)$', text, re.M)}


def lane_of(url: str, send: Callable[[], Reply]) -> tuple[str, Reply]:
    before = lanes(url)
    reply = send()
    after = lanes(url)
    moved = [lane for lane in ("fast", "connexion") if after.get(lane, 0) != before.get(lane, 0)]
    assert len(moved) == 1, (before, after)
    return moved[0], reply


FAST_CASES: dict[str, tuple[str, dict[str, str], Any]] = {
    "x-api-key": ("/v1/messages", {"x-api-key": ADMIN}, body()),
    "bearer": ("/anthropic/v1/messages", {"authorization": f"Bearer {ADMIN}"}, body()),
    "x-bf-vk": ("/api/anthropic/v1/messages", {"x-bf-vk": VK_CLAUDE}, body()),
    "envelope": ("/api/v1/messages", {"x-api-key": ADMIN}, body()),
    "stream": ("/v1/messages", {"x-api-key": ADMIN}, body(stream=True)),
    "count_tokens": (
        "/v1/messages/count_tokens",
        {"x-api-key": ADMIN},
        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "headers": (
        "/v1/messages",
        {"x-api-key": ADMIN, "anthropic-version": "2026-10-21", "anthropic-beta": "a,b"},
        body(),
    ),
    "async-submit": ("/v1/messages", {"x-api-key": ADMIN, "x-bf-async": "true"}, body()),
    "charset": ("/v1/messages", {"x-api-key": ADMIN, "content-type": "application/json; charset=utf-8"}, body()),
    "x-api-key-wins": ("/v1/messages", {"x-api-key": ADMIN, "authorization": f"Bearer {WRONG}"}, body()),
    "forbidden-model": ("/v1/messages", {"x-bf-vk": VK_CLAUDE}, body(model="gpt-4o")),  # 403 by the handler
    # top-level fields spec/ does not know: taken by the handler, forwarded to the anthropic route
    "unknown-field-count": (
        "/v1/messages/count_tokens",
        {"x-api-key": ADMIN},
        {"model": "ant-m", "messages": [{"role": "user", "content": "Hi"}], "zz_future": 1},
    ),
    "unknown-field-refused": ("/v1/messages", {"x-api-key": ADMIN}, body(zz_future=1)),  # 400 by the handler
    # HTTP Basic (password = key), decoded as connexion decodes it
    "basic": ("/v1/messages", {"authorization": basic(ADMIN)}, body()),
    "basic-vk": ("/v1/messages", {"authorization": basic(VK_CLAUDE)}, body()),
    "basic-empty-user": ("/v1/messages", {"authorization": "basic " + b64(f":{ADMIN}")}, body()),
    "x-api-key-wins-over-basic": ("/v1/messages", {"x-api-key": ADMIN, "authorization": basic(WRONG)}, body()),
    # the declared query parameter: the Python SDK's beta namespace, Claude Code
    "query": ("/v1/messages?beta=true", {"x-api-key": ADMIN}, body()),
    "query-false": ("/v1/messages?beta=false", {"x-api-key": ADMIN}, body()),
    "query-blank": ("/v1/messages?beta=", {"x-api-key": ADMIN}, body()),
    "query-repeated": ("/v1/messages?beta=false&beta=true", {"x-api-key": ADMIN}, body()),
    "query-encoded": ("/v1/messages?beta=%74rue", {"x-api-key": ADMIN}, body()),
    "query-stream": ("/v1/messages?beta=true", {"x-api-key": ADMIN}, body(stream=True)),
    "query-count-tokens": (
        "/v1/messages/count_tokens?beta=true",
        {"x-api-key": ADMIN},
        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "query-envelope": ("/api/v1/messages?beta=true", {"x-api-key": ADMIN}, body()),
    # every header spec/ declares, at once (the SDK sends betas, workspace and user profile as headers)
    "sdk-beta": (
        "/v1/messages?beta=true",
        {
            "x-api-key": ADMIN,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "context-management-2025-06-27, interleaved-thinking-2025-05-14",
            "anthropic-workspace-id": "wrkspc_01",
            "anthropic-user-profile-id": "uprof_01",
            "x-stainless-lang": "python",
            "x-stainless-retry-count": "0",
        },
        body(context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}),
    ),
    "sdk-beta-async-ttl": (
        "/v1/messages?beta=true",
        {"x-api-key": ADMIN, "x-bf-async": "TRUE", "x-bf-async-job-result-ttl": " 60 "},
        body(),
    ),
    "claude-code": ("/v1/messages?beta=true", CLAUDE_CODE_HEADERS, CLAUDE_CODE_BODY),
}
HANDED_OVER: dict[str, tuple[str, dict[str, str], Any]] = {
    "no-key": ("/v1/messages", {}, body()),
    "wrong-key": ("/v1/messages", {"x-api-key": WRONG}, body()),
    "wrong-bearer-then-vk": ("/v1/messages", {"authorization": f"Bearer {WRONG}", "x-bf-vk": VK_CLAUDE}, body()),
    "basic-wrong": ("/v1/messages", {"authorization": basic(WRONG)}, body()),
    "basic-not-base64": ("/v1/messages", {"authorization": "Basic ###"}, body()),
    "basic-colon-in-key": ("/v1/messages", {"authorization": basic(ADMIN + ":x")}, body()),  # split at the first
    "basic-no-colon": ("/v1/messages", {"authorization": "Basic " + b64(ADMIN)}, body()),
    "basic-not-utf8-base64": ("/v1/messages", {"authorization": "Basic " + b64("user:ké")[:-2]}, body()),
    "wrong-basic-then-vk": ("/v1/messages", {"authorization": basic(WRONG), "x-bf-vk": VK_CLAUDE}, body()),
    "malformed-authorization": ("/v1/messages", {"authorization": "Bearer"}, body()),
    "query-undeclared": ("/v1/messages?foo=1", {"x-api-key": ADMIN}, body()),
    "query-beta-and-undeclared": ("/v1/messages?beta=true&debug=1", {"x-api-key": ADMIN}, body()),
    "query-no-key": ("/v1/messages?beta=true", {}, body()),
    "query-invalid-body": ("/v1/messages?beta=true", {"x-api-key": ADMIN}, body(max_tokens="many")),
    "query-bad-version": ("/v1/messages?beta=true", {"x-api-key": ADMIN, "anthropic-version": "x"}, body()),
    "bad-async-ttl": ("/v1/messages", {"x-api-key": ADMIN, "x-bf-async-job-result-ttl": "0"}, body()),
    "bad-version": ("/v1/messages", {"x-api-key": ADMIN, "anthropic-version": "1999-01-01"}, body()),
    "bad-async": ("/v1/messages", {"x-api-key": ADMIN, "x-bf-async": "yes"}, body()),
    "poll": ("/v1/messages", {"x-api-key": ADMIN, "x-bf-async-id": "job_unknown"}, body()),
    "text-plain": ("/v1/messages", {"x-api-key": ADMIN, "content-type": "text/plain"}, body()),
    "invalid-body": ("/v1/messages", {"x-api-key": ADMIN}, body(max_tokens="many")),
    "invalid-json": ("/v1/messages", {"x-api-key": ADMIN}, b'{"model": '),
    "array-body": ("/v1/messages", {"x-api-key": ADMIN}, b"[]"),
    "empty-body": ("/v1/messages", {"x-api-key": ADMIN}, b""),
    "unknown-field-and-invalid": ("/v1/messages", {"x-api-key": ADMIN}, body(model="ant-m", zz_x=1, max_tokens="x")),
    "unknown-nested-field": (
        "/v1/messages",
        {"x-api-key": ADMIN},
        body(model="ant-m", messages=[{"role": "user", "content": "Hi", "zz_x": 1}]),
    ),
}


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The loopback Anthropic fake, in a loop of its own (these tests are synchronous)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeAnthropic()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    yield fake
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def fast_gw(fake_anthropic: FakeAnthropic) -> Any:
    from tests.support.gateway import start_gateway

    running = start_gateway(config(True, fake_anthropic.url))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def connexion_plain_gw(fake_anthropic: FakeAnthropic) -> Any:
    """Connexion alone without response validation: the relayed upstream Message is the fake's,
    whose completeness is not what these tests are about."""
    from tests.support.gateway import start_gateway

    running = start_gateway(config(False, fake_anthropic.url))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def connexion_gw(fake_anthropic: FakeAnthropic) -> Any:
    from tests.support.gateway import start_gateway

    running = start_gateway(config(False, fake_anthropic.url), validate_responses=True)
    yield running
    running.stop()


@pytest.mark.parametrize("case", list(FAST_CASES))
def test_served_by_the_fast_lane(fast_gw: Any, case: str) -> None:
    path, headers, payload = FAST_CASES[case]
    lane, reply = lane_of(fast_gw.url, lambda: request(fast_gw.url + path, body=payload, headers=headers))
    assert lane == "fast", reply.body
    assert reply.status in ((400,) if case == "unknown-field-refused" else (200, 403))
    assert reply.headers["request-id"].startswith("req_") and "x-specgate-overhead-ms" in reply.headers


@pytest.mark.parametrize("case", list(HANDED_OVER))
def test_handed_over_to_connexion(fast_gw: Any, case: str) -> None:
    path, headers, payload = HANDED_OVER[case]
    lane, reply = lane_of(fast_gw.url, lambda: request(fast_gw.url + path, body=payload, headers=headers))
    assert lane == "connexion", reply.body
    if case not in ("wrong-bearer-then-vk", "wrong-basic-then-vk", "poll", "query-undeclared") and (
        case != "query-beta-and-undeclared"
    ):
        assert reply.status >= 400, reply.body  # the request connexion refuses (and words)
        assert reply.json()["error"]["message"]


def test_a_disabled_fast_path_serves_everything_through_connexion(connexion_gw: Any) -> None:
    reply = request(connexion_gw.url + "/v1/messages", body=body(), headers={"x-api-key": ADMIN})
    assert reply.status == 200
    assert lanes(connexion_gw.url) == {"fast": 0, "connexion": 0}


# ---- both lanes answer alike

_VOLATILE_HEADERS = {"request-id", "x-specgate-overhead-ms", "date", "x-bf-async-id"}
_IDS = re.compile(rb"\b(req|msg|job|msgbatch)_[A-Za-z0-9_]+")


def normalised(reply: Reply) -> tuple[int, dict[str, str], bytes]:
    headers = {
        k: _IDS.sub(rb"\1_X", v.encode()).decode() for k, v in reply.headers.items() if k not in _VOLATILE_HEADERS
    }
    return reply.status, headers, _IDS.sub(rb"\1_X", reply.body)


PARITY = {**FAST_CASES, **HANDED_OVER}
PARITY |= {
    "duplicate-version": ("/v1/messages", {"x-api-key": ADMIN}, body()),  # see the test: headers repeated
    "sampling-under-2026": ("/v1/messages", {"x-api-key": ADMIN, "anthropic-version": "2026-10-21"}, body(top_k=3)),
    "tool-choice-unknown": (
        "/v1/messages",
        {"x-api-key": ADMIN},
        body(tool_choice={"type": "tool", "name": "nope"}),
    ),
    "too-large": ("/v1/messages", {"x-api-key": ADMIN}, body(system="x" * 70_000)),
    "count-invalid": ("/v1/messages/count_tokens", {"x-api-key": ADMIN}, {"model": "m"}),
    "envelope-invalid": ("/api/v1/messages", {"x-api-key": ADMIN}, body(max_tokens=0)),
    "unknown-field-stream": ("/v1/messages", {"x-api-key": ADMIN}, body(model="ant-m", stream=True, zz_future=1)),
    "unknown-field-envelope": ("/api/v1/messages", {"x-api-key": ADMIN}, body(zz_future=1)),
    "unknown-field-async": ("/v1/messages", {"x-api-key": ADMIN, "x-bf-async": "true"}, body(model="ant-m", zz_a=1)),
}


@pytest.mark.parametrize("case", list(PARITY))
def test_both_lanes_answer_alike(fast_gw: Any, connexion_gw: Any, case: str) -> None:
    path, headers, payload = PARITY[case]
    repeated = (
        [("anthropic-version", "2023-06-01"), ("anthropic-version", "bad")] if case == "duplicate-version" else None
    )
    replies = [
        request(gw.url + path, body=payload, headers=headers, repeated=repeated) for gw in (fast_gw, connexion_gw)
    ]
    fast, slow = (normalised(r) for r in replies)
    assert fast == slow
    assert fast[0] != 500


FORWARDED = {
    "unknown-field-forwarded": ("/v1/messages", {"x-api-key": ADMIN}, body(model="ant-m", zz_future=1, zz_b=[1])),
    "unknown-field-forwarded-envelope": ("/api/v1/messages", {"x-api-key": ADMIN}, body(model="ant-m", zz_future=1)),
}


@pytest.mark.parametrize("case", list(FORWARDED))
def test_forwarded_answers_alike(
    fast_gw: Any, connexion_plain_gw: Any, fake_anthropic: FakeAnthropic, case: str
) -> None:
    path, headers, payload = FORWARDED[case]
    lane, on_fast = lane_of(fast_gw.url, lambda: request(fast_gw.url + path, body=payload, headers=headers))
    assert lane == "fast"
    sent = [fake_anthropic.requests[-1].body]
    on_connexion = request(connexion_plain_gw.url + path, body=payload, headers=headers)
    sent.append(fake_anthropic.requests[-1].body)
    assert sent == [payload, payload]  # the fields as the client wrote them (the route keeps the model)
    replies = [on_fast, on_connexion]
    fast, slow = (normalised(r) for r in replies)
    assert fast == slow and fast[0] == 200
    assert fast[1]["x-specgate-forwarded-fields"] == ",".join(k for k in payload if k.startswith("zz_"))


def test_rate_limit_answers_alike(fast_gw: Any, connexion_gw: Any) -> None:
    # rpm 2: the third request of the minute is refused with the same headers on both lanes
    for gw in (fast_gw, connexion_gw):
        replies = [request(gw.url + "/v1/messages", body=body(), headers={"x-bf-vk": VK_LIMITED}) for _ in range(3)]
        assert [r.status for r in replies] == [200, 200, 429]
    fast = request(fast_gw.url + "/v1/messages", body=body(), headers={"x-bf-vk": VK_LIMITED})
    slow = request(connexion_gw.url + "/v1/messages", body=body(), headers={"x-bf-vk": VK_LIMITED})
    assert fast.status == slow.status == 429
    assert fast.json() | {"request_id": None} == slow.json() | {"request_id": None}
    assert {k for k in fast.headers if k.startswith(("x-ratelimit", "retry-after"))} == {
        k for k in slow.headers if k.startswith(("x-ratelimit", "retry-after"))
    }
