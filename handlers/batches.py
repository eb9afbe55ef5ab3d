"""…/messages/batches: create, list, retrieve, cancel, delete and results of Message Batches.

The gateway runs batches itself (``jobs.batches.service``), so they work for every provider. Each
request goes through the same path as ``POST /v1/messages`` (routing, fallbacks, the semantic
checks, admission and usage settlement under the creator's key), with the ``anthropic-version``
and ``anthropic-beta`` of the create call. Checks that need the whole batch (unique custom_ids,
the request count, the models the key may use) answer 400 or 403 at once; a request that the
provider, the cross-field rules or the key's limits refuse becomes an ``errored`` result, as with
the real API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from connexion import request
from starlette.responses import Response, StreamingResponse

from handlers import _async
from jobs.batches import model
from jobs.batches.model import Batch
from jobs.batches.runner import Execute
from providers.base import CallContext
from providers.budget import RetryBudget
from specgate.contract import rules
from specgate.contract.rules import DEFAULT_VERSION
from specgate.contract.validation import BODY_STATE_KEY
from specgate.core.config import VirtualKeySpec
from specgate.core.errors import GatewayError, InvalidRequestError, NotFoundError
from specgate.core.scope import new_request_id, scope_state
from specgate.core.types import Json
from specgate.dispatch import admission, exchange, traces
from specgate.gateway import Gateway, gateway_of
from specgate.wire.observe import record_of
from specgate.wire.pagination import page

from .messages import split_beta

COLLECTION = "/v1/messages/batches"
JSONL = "application/x-jsonl"


def _collection_url() -> str:
    """This gateway's …/v1/messages/batches URL as the client called it (scheme, host, prefix)."""
    url = request.url
    path = url.path
    prefix = path[: path.find(COLLECTION) + len(COLLECTION)]
    return f"{url.scheme}://{url.netloc}{prefix}"


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _not_found(batch_id: str) -> NotFoundError:
    return NotFoundError(f"message_batch_id: no message batch {batch_id!r}")


def _requests(scope: Any, body: Json, max_requests: int) -> list[tuple[str, Json]]:
    items: list[Json] = body["requests"]
    if len(items) > max_requests:
        raise InvalidRequestError(f"requests: a batch holds at most {max_requests} requests (got {len(items)})")
    rules.check_batch(body)
    for index, item in enumerate(items):  # a model the key may not use: 403 before anything runs
        admission.check_model(scope, str(item["params"].get("model", "")), field=f"requests.{index}.params.model")
    return [(str(item["custom_id"]), item["params"]) for item in items]


def _executor(
    gateway: Gateway, key: VirtualKeySpec | None, owner: str, version: str, beta: tuple[str, ...], link: Any
) -> Execute:
    async def execute(params: Json) -> bytes:
        # no client headers: an item runs long after the request, which is not kept (it holds credentials)
        ctx = CallContext(
            request_id=new_request_id(),
            anthropic_version=version,
            anthropic_beta=beta,
            budget=RetryBudget(gateway.config.server.retry_budget),
        )
        try:
            rules.check_message(params, version)
            # a batch is paced by its key's per-minute limit, not failed by it; a used-up budget errors it
            account = admission.account_for(gateway, owner, str(params.get("model", "")))
            ticket = await admission.admit_paced(gateway.governance, key, params, account)
            call = exchange.Call(params, ctx, account=account)
            # aborted (shutdown, expiry) before serve settles it: the reservation goes back
            async with (
                exchange.refund_on_error(ticket),
                traces.background(gateway, call, "specgate.batch_item", link, owner) as item_call,
            ):
                answer = await exchange.serve(gateway.router, ticket, item_call)
        except GatewayError as exc:
            return model.errored_result(exc.to_body(ctx.request_id))
        message = answer.message
        assert message is not None  # a batch item is never a stream
        usage = message.get("usage")
        if isinstance(usage, dict) and "service_tier" in usage:
            usage["service_tier"] = "batch"
        return model.succeeded_result(message)

    return execute


def resumed_executor(gateway: Gateway) -> Callable[[Batch], Execute]:
    """The executor of a batch another process created (and died running): its creator's key and
    the ``anthropic-version``/``anthropic-beta`` of its create call, from the stored context."""

    def factory(batch: Batch) -> Execute:
        context = batch.context
        key = gateway.governance.key_for(None if batch.job.owner == _async.ANONYMOUS else batch.job.owner)
        version = context.get("anthropic_version") or DEFAULT_VERSION
        betas = split_beta(context.get("anthropic_beta"))
        return _executor(gateway, key, batch.job.owner, version, betas, None)

    return factory


async def create_message_batch(user: str | None = None) -> Response:
    scope: Any = request.scope
    gateway = gateway_of(scope)
    body: Json = scope_state(scope)[BODY_STATE_KEY]
    requests = _requests(scope, body, gateway.config.batches.max_requests)
    version = request.headers.get("anthropic-version") or DEFAULT_VERSION
    key = admission.virtual_key_of(scope)
    betas = split_beta(request.headers.get("anthropic-beta"))
    owner = user or _async.ANONYMOUS
    link = traces.link_of(record_of(scope))  # the items' spans are linked to this request's
    execute = _executor(gateway, key, owner, version, betas, link)
    context = {"anthropic_version": version, "anthropic_beta": ",".join(betas)}
    batch = await gateway.batches.create(owner, requests, execute, context)
    return _json(model.render(batch, _collection_url()))


async def list_message_batches(
    user: str | None = None, limit: int = 20, before_id: str | None = None, after_id: str | None = None
) -> Response:
    batches = await gateway_of(request.scope).batches.owned(user or _async.ANONYMOUS)
    url = _collection_url()

    def render(batch: Batch) -> dict[str, Any]:
        return model.render(batch, url)

    return _json(
        page(batches, id_of=lambda b: b.id, render=render, limit=limit, before_id=before_id, after_id=after_id)
    )


async def get_message_batch(message_batch_id: str, user: str | None = None) -> Response:
    batch = await gateway_of(request.scope).batches.get(user or _async.ANONYMOUS, message_batch_id)
    if batch is None:
        raise _not_found(message_batch_id)
    return _json(model.render(batch, _collection_url()))


async def cancel_message_batch(message_batch_id: str, user: str | None = None) -> Response:
    batch = await gateway_of(request.scope).batches.cancel(user or _async.ANONYMOUS, message_batch_id)
    if batch is None:
        raise _not_found(message_batch_id)
    return _json(model.render(batch, _collection_url()))


async def delete_message_batch(message_batch_id: str, user: str | None = None) -> Response:
    if not await gateway_of(request.scope).batches.delete(user or _async.ANONYMOUS, message_batch_id):
        raise _not_found(message_batch_id)
    return _json(model.deleted(message_batch_id))


async def get_message_batch_results(message_batch_id: str, user: str | None = None) -> Response:
    lines = await gateway_of(request.scope).batches.results(user or _async.ANONYMOUS, message_batch_id)
    if lines is None:
        raise _not_found(message_batch_id)
    return StreamingResponse(lines, media_type=JSONL, headers={"cache-control": "no-store"})


# The same operations under the integration prefixes (each path has its own operationId).
anthropic_create_message_batch = platform_anthropic_create_message_batch = create_message_batch
anthropic_list_message_batches = platform_anthropic_list_message_batches = list_message_batches
anthropic_get_message_batch = platform_anthropic_get_message_batch = get_message_batch
anthropic_cancel_message_batch = platform_anthropic_cancel_message_batch = cancel_message_batch
anthropic_delete_message_batch = platform_anthropic_delete_message_batch = delete_message_batch
anthropic_get_message_batch_results = platform_anthropic_get_message_batch_results = get_message_batch_results
