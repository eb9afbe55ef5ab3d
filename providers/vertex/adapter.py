"""Transport for ``type: vertex``: POST ``:rawPredict`` (JSON) or ``:streamRawPredict`` (SSE)
with a google-auth bearer token, and relay the Anthropic answers. Translation lives in
``providers.vertex.translate``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from providers.answers import load_json_object, note_upstream
from providers.anthropic import merge_betas
from providers.base import CallContext, Provider
from providers.http import UpstreamClient
from providers.relay import SSERelay, input_tokens_of
from providers.vertex import translate
from providers.vertex.credentials import REFRESH_TIMEOUT_S, GoogleTokens
from specgate.core import deepjson
from specgate.core.config import ProviderConfig
from specgate.core.types import Json, SSEEvent


class VertexProvider:
    type = "vertex"
    relays_upstream_shapes = True  # Vertex answers in the Anthropic shapes already

    def __init__(self, config: ProviderConfig) -> None:
        cloud = config.cloud
        if not cloud.project or not cloud.region:
            raise ValueError(f"provider {config.name!r} (type vertex) needs a project and a region")
        self.name = config.name
        self._project = cloud.project
        self._region = cloud.region
        self._endpoint = translate.endpoint(cloud.region, config.base_url)
        self._model_ids = dict(cloud.model_ids)
        timeout_s = min(REFRESH_TIMEOUT_S, config.timeout_s)
        self._tokens = GoogleTokens(config.name, cloud.credentials_file, translate.SCOPES, timeout_s)
        # the bearer token goes on each attempt (a retry takes the current one); a 401 renews it once
        self._client = UpstreamClient(
            config,
            auth=lambda _key: {},
            parse_error=translate.parse_error,
            sign=self._bearer,
            reauth=self._tokens.reject,
        )

    @property
    def client(self) -> UpstreamClient:
        return self._client

    def _url(self, model: str, method: str) -> str:
        return translate.model_url(self._endpoint, self._project, self._region, model, method)

    def _headers(self, request: Json, ctx: CallContext) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "accept": "application/json",
            **translate.beta_header(merge_betas(ctx.anthropic_beta, request.get("betas"))),
        }

    async def _bearer(self, _url: str, _body: bytes, headers: Mapping[str, str], request_id: str) -> dict[str, str]:
        return {**headers, **await self._tokens.headers(request_id)}

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        model = self._model_ids.get(upstream_model, upstream_model)
        resp = await self._client.request(
            self._url(model, "rawPredict"),
            deepjson.dumps(translate.predict_body(request, stream=False)),
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            ctx.observer,
            request_id=ctx.request_id,
            ctx=ctx,
        )
        note_upstream(ctx.response_headers, resp.headers)
        message = load_json_object(resp.body, "message body", provider=self.name, request_id=ctx.request_id)
        message["model"] = request.get("model", upstream_model)
        return message

    def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        model = self._model_ids.get(upstream_model, upstream_model)
        return self._client.stream_decoded(
            self._url(model, "streamRawPredict"),
            deepjson.dumps(translate.predict_body(request, stream=True)),
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            SSERelay(str(request.get("model", upstream_model)), self.name, ctx),
            ctx.observer,
            request_id=ctx.request_id,
            ctx=ctx,
        )

    async def count_tokens(self, request: Json, upstream_model: str, ctx: CallContext) -> int:
        model = self._model_ids.get(upstream_model, upstream_model)
        resp = await self._client.request(
            self._url("count-tokens", "rawPredict"),
            deepjson.dumps(translate.count_tokens_body(request, model)),
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            request_id=ctx.request_id,
            ctx=ctx,
        )
        return input_tokens_of(resp.body, provider=self.name, request_id=ctx.request_id)

    async def aclose(self) -> None:
        await self._client.aclose()


def create(config: ProviderConfig) -> Provider:
    return VertexProvider(config)
