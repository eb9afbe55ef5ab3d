"""A fake Vertex AI for Claude: ``POST /v1/projects/{project}/locations/{region}/publishers/
anthropic/models/{model}:rawPredict`` (and ``:streamRawPredict``, and the ``count-tokens`` model),
plus the OAuth 2.0 token endpoint a service account's ``token_uri`` names (``POST /token``).

The token endpoint takes Google's JWT-bearer grant: it verifies the assertion's RS256
signature with the service account's public key (``service_account`` makes one with a fresh
RSA key), its audience (Google's token endpoint, whatever ``token_uri`` says) and its
cloud-platform scope, and issues ``ya29.fake-N`` tokens valid ``token_lifetime_s`` (answered
after ``token_delay_s``; ``revoke`` ends one early). Model calls need ``Authorization: Bearer``
with an unexpired, unrevoked token (else Google's 401 ``UNAUTHENTICATED``), Vertex's body
(``anthropic_version: vertex-2023-10-16``, no ``model``; ``stream: true`` exactly on
``:streamRawPredict``), and get the answers of ``tests.fakes.claude_answers`` as JSON or
Anthropic SSE.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from tests.fakes import claude_answers
from tests.fakes.anthropic_upstream import frame
from tests.fakes.server import FakeServer, Recorded, Reply, dumps

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google's token endpoint requires of the assertion


def google_error(status: int, status_name: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "status": status_name}})


class FakeVertex(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._token_ids = itertools.count(1)
        self._public_keys: dict[str, bytes] = {}  # key id -> PEM
        self._tokens: dict[str, float] = {}  # issued token -> monotonic expiry
        self.token_lifetime_s = 3600
        self.token_delay_s = 0.0  # the token endpoint answers after this long (a hanging one: long)
        self.token_requests = 0

    def revoke(self, token: str) -> None:
        """Revoke an issued token before its expiry: its next use is a 401."""
        self._tokens.pop(token, None)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account(self, path: Path, email: str = "gateway@proj.iam.gserviceaccount.com") -> Path:
        """Write a service-account JSON with a fresh RSA key whose public half this fake trusts."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = f"key-{len(self._public_keys) + 1}"
        self._public_keys[key_id] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": "proj",
            "private_key_id": key_id,
            "private_key": private,
            "client_email": email,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }
        path.write_bytes(orjson.dumps(info))
        return path

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self.token)
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{action}", self.predict
        )

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if self.token_delay_s:
            await asyncio.sleep(self.token_delay_s)  # cancelled when the client gives up
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(str(form.get("assertion", "")), certs=self._public_keys, audience=AUDIENCE)
        except ValueError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        if SCOPE not in str(claims.get("scope", "")).split():
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = f"ya29.fake-{next(self._token_ids)}"
        self._tokens[token] = time.monotonic() + self.token_lifetime_s
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"})

    async def predict(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self._tokens.get(token, 0.0) <= time.monotonic():
            return _reply(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                )
            )
        step, answered = await self.next_step(request)
        if answered is not None:
            return answered
        model, _, method = request.match_info["action"].partition(":")
        if method not in ("rawPredict", "streamRawPredict"):
            return _reply(google_error(404, "NOT_FOUND", f"method {method!r} not found"))
        if invalid := _invalid(recorded, stream=method == "streamRawPredict", count=model == "count-tokens"):
            return _reply(invalid)
        if model == "count-tokens":
            return web.json_response({"input_tokens": len(dumps(recorded.body["messages"])) // 4})
        n = next(self._ids)
        if method == "rawPredict":
            return web.json_response(claude_answers.message(recorded.body, model, f"msg_vrtx_{n}"), dumps=dumps)
        frames = [frame(e["type"], e) for e in claude_answers.events(recorded.body, model, f"msg_vrtx_{n}")]
        return await self.respond_stream(request, step, frames, {})


def _reply(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, headers=reply.headers, dumps=dumps)


def _invalid(recorded: Recorded, *, stream: bool, count: bool) -> Reply | None:
    body = recorded.body
    if not isinstance(body, dict):
        return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if body.get("anthropic_version") != "vertex-2023-10-16":
        return google_error(400, "INVALID_ARGUMENT", "anthropic_version: must be vertex-2023-10-16")
    if count:
        return None if "model" in body else google_error(400, "INVALID_ARGUMENT", "model: field required")
    if "model" in body:
        return google_error(400, "INVALID_ARGUMENT", "model: is part of the URL, not the body")
    if bool(body.get("stream")) != stream:
        return google_error(400, "INVALID_ARGUMENT", "stream must be true exactly for streamRawPredict")
    return None
