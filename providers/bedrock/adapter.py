"""Transport for ``type: bedrock``: sign with SigV4, POST ``InvokeModel`` (JSON) or
``InvokeModelWithResponseStream`` (an AWS event stream, decoded with botocore's parser), and
relay the Anthropic answers inside. Translation lives in ``providers.bedrock.translate``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing

from providers.answers import load_json_object, note_upstream, upstream_request_id
from providers.anthropic import merge_betas
from providers.base import CallContext, Provider
from providers.bedrock import translate
from providers.bedrock.signing import AwsSigner
from providers.faults import Malformed, map_fault
from providers.http import UpstreamClient
from providers.relay import relay_event, stream_error
from specgate.core import deepjson
from specgate.core.config import ProviderConfig
from specgate.core.errors import ApiError
from specgate.core.types import Json, SSEEvent


class BedrockProvider:
    type = "bedrock"
    relays_upstream_shapes = True  # Bedrock answers in the Anthropic shapes already

    def __init__(self, config: ProviderConfig) -> None:
        cloud = config.cloud
        if not cloud.region:
            raise ValueError(f"provider {config.name!r} (type bedrock) needs a region")
        self.name = config.name
        self._endpoint = translate.endpoint(cloud.region, config.base_url)
        self._model_ids = dict(cloud.model_ids)
        self._signer = AwsSigner(config.name, cloud.region, cloud.aws_profile, translate.SIGNING_SERVICE)
        self._client = UpstreamClient(
            config, auth=lambda _key: {}, parse_error=translate.parse_error, sign=self._signer.sign
        )

    @property
    def client(self) -> UpstreamClient:
        return self._client

    async def _post(
        self, request: Json, upstream_model: str, ctx: CallContext, *, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        url = translate.invoke_url(self._endpoint, translate.model_id(upstream_model, self._model_ids), stream=stream)
        body = deepjson.dumps(translate.invoke_body(request, merge_betas(ctx.anthropic_beta, request.get("betas"))))
        accept = translate.STREAM_CONTENT_TYPE if stream else "application/json"
        # the transport adds the forwarded and fixed headers and the attempt's traceparent, then
        # signs each attempt with them all (AWS refuses an unsigned x-amz-* header)
        return url, body, {"content-type": "application/json", "accept": accept}

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        url, body, headers = await self._post(request, upstream_model, ctx, stream=False)
        deadline = self._client.deadline(ctx.deadline)
        resp = await self._client.request(
            url, body, headers, deadline, ctx.observer, request_id=ctx.request_id, ctx=ctx
        )
        note_upstream(ctx.response_headers, resp.headers)
        message = load_json_object(resp.body, "message body", provider=self.name, request_id=ctx.request_id)
        message["model"] = request.get("model", upstream_model)
        return message

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        url, body, headers = await self._post(request, upstream_model, ctx, stream=True)
        deadline = self._client.deadline(ctx.deadline)
        chunks = self._client.stream_chunks(
            url, body, headers, deadline, ctx.observer, request_id=ctx.request_id, ctx=ctx
        )
        client_model = str(request.get("model", upstream_model))
        buffer = EventStreamBuffer()
        stopped = False
        async with aclosing(chunks):
            async for data, resp_headers in chunks:
                if not ctx.response_headers:
                    note_upstream(ctx.response_headers, resp_headers)
                buffer.add_data(data)
                while True:
                    try:
                        message = next(buffer)
                    except StopIteration:
                        break
                    except ParserError as exc:
                        raise self._malformed(f"event-stream framing ({type(exc).__name__})", data, ctx) from None
                    event = self._event(message.headers, message.payload, client_model, ctx, resp_headers)
                    if event is None or stopped:
                        continue
                    stopped = event.event == "message_stop"
                    yield event
        if not stopped:
            raise ApiError("upstream stream ended before message_stop")

    def _event(
        self,
        headers: dict[str, object],
        payload: bytes,
        client_model: str,
        ctx: CallContext,
        resp_headers: Mapping[str, str],
    ) -> SSEEvent | None:
        """One event-stream message: an Anthropic event, None for a message to skip, or raise."""
        kind = headers.get(":message-type")
        if kind == "exception":
            name = str(headers.get(":exception-type") or "")
            raise translate.stream_exception(name, payload, self.name, upstream_request_id(resp_headers))
        if kind == "error":  # the event-stream protocol's own errors: code and message in headers
            message = deepjson.dumps({"message": str(headers.get(":error-message") or "")})
            code = str(headers.get(":error-code") or "")
            raise translate.stream_exception(code, message, self.name, upstream_request_id(resp_headers))
        if headers.get(":event-type") != "chunk":
            return None  # an event type this gateway does not know: Bedrock may add some
        inner = translate.chunk_payload(payload)
        if inner is None:
            raise self._malformed("stream chunk (no base64 bytes)", payload, ctx)
        event = relay_event(None, inner, client_model, self.name, ctx.request_id)
        if event.event == "error":
            raise stream_error(event.data, upstream_request_id(resp_headers))
        return event

    def _malformed(self, what: str, raw: bytes, ctx: CallContext) -> Exception:
        fault = map_fault(self.name, Malformed(what, raw, "not what Bedrock documents"))
        fault.log(ctx.request_id)
        return fault.error

    async def aclose(self) -> None:
        await self._client.aclose()


def create(config: ProviderConfig) -> Provider:
    return BedrockProvider(config)
