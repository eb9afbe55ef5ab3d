"""A fake Azure OpenAI resource: ``POST /openai/deployments/{deployment}/chat/completions?api-version=…``
and the Microsoft Entra ID token endpoint (``POST /{tenant}/oauth2/v2.0/token``), on one port.

Chat calls need a known ``api-version`` (else Azure's 404 ``Resource not found``) and either an
``api-key`` header from ``api_keys`` or ``Authorization: Bearer`` with a token this fake's Entra
endpoint issued and that has not expired (else Azure's 401 "Access denied due to invalid
subscription key…"). The deployment name picks the answer, as the body's model does for
``FakeOpenAI`` (``fake-text``, ``fake-tools``, ``fake-reasoning``). The token endpoint takes the
client-credentials grant for the ``https://cognitiveservices.azure.com/.default`` scope.
"""

from __future__ import annotations

import itertools
import time

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import Reply, dumps

API_VERSIONS = ("2024-06-01", "2024-10-21", "2025-01-01-preview")
SCOPE = "https://cognitiveservices.azure.com/.default"
TENANT = "00000000-aaaa-bbbb-cccc-000000000001"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "entra-client-secret"
_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for "
    "an active subscription and use a correct regional API endpoint for your resource."
)


def azure_error(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, {"apim-request-id": "azure-req-err", **headers})


class FakeAzureOpenAI(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        self.api_keys = {"azure-key-1", "azure-key-2"}
        self.token_lifetime_s = 3600
        self.token_requests = 0
        self._tokens: dict[str, float] = {}
        self._token_ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.deployment_chat)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)

    async def deployment_chat(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("api-version") not in API_VERSIONS:
            await self.record(request)
            return _reply(azure_error(404, "404", "Resource not found"))
        key = request.headers.get("api-key")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not (key in self.api_keys or self._tokens.get(bearer, 0.0) > time.monotonic()):
            await self.record(request)
            return _reply(azure_error(401, "401", _DENIED))
        return await self.chat_completions(request, scenario=request.match_info["deployment"])

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if request.match_info["tenant"] != TENANT or form.get("client_id") != CLIENT_ID:
            return web.json_response(
                {"error": "invalid_request", "error_description": "AADSTS90002: Tenant or application not found."},
                status=400,
            )
        if form.get("client_secret") != CLIENT_SECRET:
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
                status=401,
            )
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = f"eyJ0eXAi.fake-entra-{next(self._token_ids)}"
        self._tokens[token] = time.monotonic() + self.token_lifetime_s
        return web.json_response(
            {"token_type": "Bearer", "expires_in": self.token_lifetime_s, "ext_expires_in": 3599, "access_token": token}
        )


def _reply(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, headers=reply.headers, dumps=dumps)
