"""A fake OpenAI-compatible upstream: ``POST /v1/chat/completions`` (JSON, or SSE ``data:``
chunks ending with ``data: [DONE]``), speaking the real wire format.

The upstream model name picks the answer, so a test chooses a scenario through its request:

* ``fake-text``: plain text ("Hello world");
* ``fake-tools``: two parallel tool calls whose ``arguments`` arrive in fragments;
* ``fake-reasoning``: ``reasoning_content`` then text.

Streams end with a usage chunk (``choices: []``) only when ``stream_options.include_usage`` was
requested, as OpenAI does. Errors use OpenAI's ``{"error": {...}}`` body.
"""

from __future__ import annotations

import itertools

from aiohttp import web

from tests.fakes.server import FakeServer, Json, Reply, dumps

USAGE: Json = {
    "prompt_tokens": 30,
    "completion_tokens": 12,
    "total_tokens": 42,
    "prompt_tokens_details": {"cached_tokens": 10},
}

TOOL_FRAGMENTS: dict[int, tuple[str, str, tuple[str, ...]]] = {
    0: ("call_a", "get_weather", ("", '{"loc', 'ation": "Par', 'is"}')),
    1: ("call_b", "get_time", ("", '{"tz":', ' "CET"}')),
}


def openai_error(status: int, message: str, error_type: str = "invalid_request_error", **headers: str) -> Reply:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return Reply(status, body, {"x-request-id": "req_oai_err", **headers})


def scenario_deltas(model: str) -> tuple[list[Json], str]:
    """The stream deltas of a scenario and its finish_reason."""
    deltas: list[Json] = [{"role": "assistant", "content": ""}]
    if model == "fake-tools":
        for index, (call_id, name, fragments) in TOOL_FRAGMENTS.items():
            for i, fragment in enumerate(fragments):
                call: Json = {"index": index, "function": {"arguments": fragment}}
                if i == 0:
                    call.update(id=call_id, type="function")
                    call["function"]["name"] = name
                deltas.append({"tool_calls": [call]})
        return deltas, "tool_calls"
    if model == "fake-reasoning":
        deltas += [{"reasoning_content": "Let me"}, {"reasoning_content": " think."}]
    deltas += [{"content": "Hello"}, {"content": " world"}]
    return deltas, "stop"


def scenario_message(model: str) -> tuple[Json, str]:
    deltas, finish = scenario_deltas(model)
    message: Json = {"role": "assistant", "content": None}
    calls: dict[int, Json] = {}
    for delta in deltas:
        for key in ("content", "reasoning_content"):
            if delta.get(key):
                message[key] = (message.get(key) or "") + delta[key]
        for call in delta.get("tool_calls", []):
            entry = calls.setdefault(
                call["index"],
                {"id": call.get("id"), "type": "function", "function": {"name": "", "arguments": ""}},
            )
            entry["function"]["name"] += call["function"].get("name", "")
            entry["function"]["arguments"] += call["function"]["arguments"]
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


class FakeOpenAI(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat_completions)

    async def chat_completions(self, request: web.Request, scenario: str | None = None) -> web.StreamResponse:
        """``scenario``: the answer to give instead of the body's ``model`` (Azure's deployment)."""
        recorded = await self.record(request)
        step, answered = await self.next_step(request)
        if answered is not None:
            return answered
        body = recorded.body
        if not isinstance(body, dict) or "messages" not in body or "model" not in body:
            reply = openai_error(400, "model and messages are required")
            return web.json_response(reply.body, status=400, headers=reply.headers, dumps=dumps)
        cid = f"chatcmpl-fake{next(self._ids)}"
        model = scenario or str(body["model"])
        headers = {"x-request-id": f"req_{cid}"}
        if not body.get("stream") or self.ignore_stream:
            message, finish = scenario_message(model)
            completion = {
                "id": cid,
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": USAGE,
            }
            return web.json_response(completion, headers=headers, dumps=dumps)

        deltas, finish = scenario_deltas(model)
        chunks = [_chunk(cid, model, [{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        chunks.append(_chunk(cid, model, [{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(_chunk(cid, model, [], usage=USAGE))
        frames = [f"data: {dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        return await self.respond_stream(request, step, frames, headers)


def _chunk(cid: str, model: str, choices: list[Json], usage: Json | None = None) -> Json:
    chunk: Json = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk
