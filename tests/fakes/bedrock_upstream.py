"""A fake Amazon Bedrock Runtime: ``POST /model/{modelId}/invoke`` and
``/model/{modelId}/invoke-with-response-stream``, speaking the real wire protocol.

Every request must carry a valid AWS Signature Version 4 for service ``bedrock`` in the fake's
region: the fake recomputes it with botocore's own signer from the credentials it knows
(``allow``) over the method, raw path, query, the signed headers and the body, and compares.
A missing, unknown or wrong signature gets Bedrock's 403 (``x-amzn-ErrorType``
``MissingAuthenticationTokenException`` / ``UnrecognizedClientException`` /
``InvalidSignatureException``). The body must be Bedrock's Anthropic body
(``anthropic_version: bedrock-2023-05-31``, no ``model``, no ``stream``) or it is a 400
``ValidationException``.

Answers come from ``tests.fakes.claude_answers``. A stream is an AWS event stream
(``application/vnd.amazon.eventstream``): each message has the prelude (total and headers
length, CRC32), string headers (``:event-type: chunk``, ``:content-type``, ``:message-type:
event``), the payload ``{"bytes": base64(<Anthropic event>), "p": padding}`` and the message
CRC32; the last event carries ``amazon-bedrock-invocationMetrics``, as Bedrock's does. A scripted
``StreamException`` sends a few events, then an ``exception`` message (``:exception-type``);
a scripted ``BadChecksum`` sends a few, then one whose CRC does not match.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import re
import struct
import zlib
from dataclasses import dataclass

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes import claude_answers
from tests.fakes.server import FakeServer, Json, Recorded, Reply, dumps

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class StreamException:
    """Stream ``after`` events, then a Bedrock exception message in the event stream."""

    after: int
    exception: str = "ModelStreamErrorException"
    message: str = "The model stream failed"


@dataclass(frozen=True)
class BadChecksum:
    """Stream ``after`` events, then one whose message CRC is wrong (a corrupted frame)."""

    after: int


@dataclass(frozen=True)
class RawFrames:
    """Stream ``after`` events, then this event-stream message as it is."""

    after: int
    frame: bytes


def bedrock_error(status: int, exception: str, message: str, **headers: str) -> Reply:
    """A Bedrock error answer: the exception name in ``x-amzn-ErrorType``, ``{"message"}`` body."""
    return Reply(
        status,
        {"message": message},
        {
            "x-amzn-ErrorType": f"{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": "bedrock-req-err",
            **headers,
        },
    )


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message with string-valued headers (header value type 7)."""
    encoded = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        encoded += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk(event: Json) -> bytes:
    payload = dumps({"bytes": base64.b64encode(dumps(event).encode()).decode(), "p": "abcdefgh"})
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return event_message(headers, payload.encode())


def exception_message(name: str, message: str) -> bytes:
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return event_message(headers, dumps({"message": message}).encode())


class FakeBedrock(FakeServer):
    def __init__(self, region: str = "us-east-1") -> None:
        super().__init__()
        self.region = region
        self._ids = itertools.count(1)
        self._secrets: dict[str, tuple[str, str | None]] = {}  # access key -> (secret, session token)
        self.signed_with: list[str] = []  # the access key of every correctly signed request

    def allow(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self._secrets[access_key] = (secret_key, token)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model_id:.+}/invoke", self.invoke)
        app.router.add_post("/model/{model_id:.+}/invoke-with-response-stream", self.invoke_stream)

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, stream=False)

    async def invoke_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, stream=True)

    async def _serve(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        recorded = await self.record(request)
        refused = self._check_signature(request, await request.read())
        if refused is not None:
            return _reply(refused)
        step, answered = await self.next_step(request)
        if answered is not None:
            return answered
        if invalid := _invalid(recorded):
            return _reply(invalid)
        model = request.match_info["model_id"]
        n = next(self._ids)
        headers = {"x-amzn-RequestId": f"bedrock-req-{n}"}
        if not stream:
            answer = claude_answers.message(recorded.body, model, f"msg_bdrk_{n}")
            return web.json_response(answer, headers=headers, dumps=dumps)
        events = claude_answers.events(recorded.body, model, f"msg_bdrk_{n}")
        events[-1] = {**events[-1], "amazon-bedrock-invocationMetrics": {"inputTokenCount": 21, "outputTokenCount": 4}}
        frames = [chunk(e) for e in events]
        if isinstance(step, StreamException):
            frames = [*frames[: step.after], exception_message(step.exception, step.message)]
        if isinstance(step, RawFrames):
            frames = [*frames[: step.after], step.frame]
        if isinstance(step, BadChecksum):
            bad = frames[step.after]
            frames = [*frames[: step.after], bad[:-1] + bytes([bad[-1] ^ 255])]
        headers["content-type"] = "application/vnd.amazon.eventstream"
        headers["x-amzn-bedrock-content-type"] = "application/json"
        return await self.respond_stream(request, step, frames, headers)

    def _check_signature(self, request: web.Request, body: bytes) -> Reply | None:
        authorization = request.headers.get("authorization")
        if not authorization:
            return bedrock_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTH_RE.match(authorization)
        if match is None or match["service"] != "bedrock" or match["region"] != self.region:
            return bedrock_error(403, "IncompleteSignatureException", "Authorization header is malformed")
        known = self._secrets.get(match["key"])
        if known is None:
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        secret, token = known
        if token is not None and request.headers.get("x-amz-security-token") != token:
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        signed = match["signed"].split(";")
        timestamp = request.headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed or timestamp[:8] != match["date"]:
            return bedrock_error(403, "InvalidSignatureException", "host and x-amz-date must be signed")
        headers = {name: request.headers.get(name, "") for name in signed}
        aws = AWSRequest(
            method=request.method, url=f"http://{request.host}{request.raw_path}", data=body, headers=headers
        )
        aws.context["timestamp"] = timestamp
        signer = SigV4Auth(Credentials(match["key"], secret, token), "bedrock", self.region)
        canonical = signer.canonical_request(aws)
        expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
        if not hmac.compare_digest(expected, match["signature"]):
            return bedrock_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        self.signed_with.append(match["key"])
        return None


def _reply(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, headers=reply.headers, dumps=dumps)


def _invalid(recorded: Recorded) -> Reply | None:
    body = recorded.body
    if not isinstance(body, dict):
        return bedrock_error(400, "ValidationException", "Malformed input request, please reformat your input")
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return bedrock_error(400, "ValidationException", "anthropic_version: must be bedrock-2023-05-31")
    for name in ("model", "stream"):
        if name in body:
            return bedrock_error(400, "ValidationException", f"extraneous key [{name}] is not permitted")
    for name in ("messages", "max_tokens"):
        if name not in body:
            return bedrock_error(400, "ValidationException", f"{name}: field required")
    return None
