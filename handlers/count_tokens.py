"""POST .../messages/count_tokens: routed by model like messages; never generates."""

from __future__ import annotations

import orjson
from connexion import request
from connexion.context import receive
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from providers import shapes
from providers.base import CallContext, TokenCounter
from providers.budget import RetryBudget
from providers.tokens import estimate_input_tokens
from specgate.contract import rules
from specgate.contract.rules import DEFAULT_VERSION
from specgate.contract.unknown_fields import UNKNOWN_FIELDS_STATE_KEY, takes_unknown_fields
from specgate.contract.validation import BODY_STATE_KEY
from specgate.core.scope import request_id_of, scope_state
from specgate.core.types import Json
from specgate.dispatch import admission, forwarding
from specgate.dispatch.fallbacks import targets_for
from specgate.gateway import gateway_of
from specgate.wire.fastpath import fast_entry

from .messages import is_beta, split_beta


async def _count(scope: Scope, client: Receive, user: str | None) -> Response:
    request_headers = Headers(scope=scope)
    state = scope_state(scope)
    body: Json = state[BODY_STATE_KEY]
    router = gateway_of(scope).router
    route = forwarding.plan(router, body, state.get(UNKNOWN_FIELDS_STATE_KEY, ()))
    version = request_headers.get("anthropic-version") or DEFAULT_VERSION
    rules.check_message(body, version)
    account = admission.account_of(scope, body)  # counted apart from Messages calls, never as tokens
    try:
        response = await _answer(scope, request_headers, body, route, version)
    except Exception:  # refused (403, 429) or the provider failed
        await account.counted(error=True)
        raise
    await account.counted(error=False)
    return response


async def _answer(
    scope: Scope, request_headers: Headers, body: Json, route: forwarding.Forwarding, version: str
) -> Response:
    router = gateway_of(scope).router
    ticket = await admission.admit(scope, body, count_tokens=False)  # model access; counts against rpm only
    target = (route.targets or targets_for(router, str(body["model"])))[0]
    betas = split_beta(request_headers.get("anthropic-beta"))
    headers = {"x-specgate-provider": target.provider.name, **route.headers, **ticket.headers}
    if isinstance(target.provider, TokenCounter):
        ctx = CallContext(
            request_id=request_id_of(scope),
            anthropic_version=version,
            anthropic_beta=betas,
            client_headers=request_headers,
            budget=RetryBudget(gateway_of(scope).config.server.retry_budget),
        )
        tokens = await target.provider.count_tokens(body, target.upstream_model, ctx)
        headers["x-specgate-token-count"] = "upstream"
    else:
        tokens = estimate_input_tokens(body)
        headers["x-specgate-token-count"] = "estimate"
    answer: Json = {"input_tokens": tokens}
    if is_beta(scope, betas):
        answer = shapes.beta_token_count(answer)  # BetaMessageTokensCount; the gateway built it
    return Response(orjson.dumps(answer), media_type="application/json", headers=headers)


@takes_unknown_fields
@fast_entry(_count)
async def count_tokens() -> Response:
    return await _count(request.scope, receive, None)


anthropic_count_tokens = platform_anthropic_count_tokens = count_tokens
