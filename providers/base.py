"""The provider interface: create a message, stream a message as Anthropic events, close.

Requests and responses are plain dicts in Anthropic Messages wire format: the gateway validated
the request against spec/ already. Optional capabilities (``count_tokens``) are separate protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import field
from typing import Protocol, runtime_checkable

from providers.budget import RetryBudget
from specgate.core.records import record
from specgate.core.types import Json, SSEEvent


class CallObserver(Protocol):
    """Optional: told what happens while a request is served (metrics and the request log).

    Implementations must be cheap and must not raise."""

    def attempting(self, provider: str, system: str, model: str, upstream_model: str) -> None:
        """A route is tried: ``provider`` (of type ``system``) is asked for ``upstream_model``."""

    def trace_headers(self) -> Mapping[str, str]:
        """Headers for the next upstream HTTP attempt (the W3C ``traceparent``; empty when not tracing)."""
        ...

    def retried(self, provider: str, reason: str) -> None:
        """An upstream attempt failed and is retried (reason: timeout, connection or HTTP status)."""

    def failed(self, provider: str, reason: str, *, fallback: bool) -> None:
        """A provider call failed for good; ``fallback``: the next route is tried."""

    def budget_refused(self, provider: str, what: str) -> None:
        """The retry budget refused a ``retry`` or a ``fallback`` after ``provider``'s failed attempt."""

    def upstream_done(self, provider: str, seconds: float, *, ok: bool) -> None:
        """A provider answered (a whole message, or a stream's first event) or failed."""

    def served(self, provider: str, upstream_model: str) -> None:
        """The provider that serves the request."""

    def usage(self, usage: Json) -> None:
        """Anthropic ``usage`` seen in a message or stream event (stream values are cumulative)."""

    def first_token(self) -> None:
        """A stream sent its first content delta."""

    def stream_as_json(self, provider: str) -> None:
        """A stream was asked for and the upstream answered one JSON message (turned into events)."""


@record
class CallContext:
    """What a provider call needs to know about the client request besides its body."""

    request_id: str
    anthropic_version: str = "2023-06-01"
    anthropic_beta: tuple[str, ...] = ()
    beta: bool = False  # the SDKs' beta namespace (?beta=true or an anthropic-beta header): Beta* shapes
    deadline: float | None = None  # time.monotonic() value after which the call must give up
    extra: dict[str, str] = field(default_factory=dict)
    # filled by the provider that served the call: headers for the client's response (the
    # upstream's request id); the dispatcher clears it before each attempt
    response_headers: dict[str, str] = field(default_factory=dict)
    observer: CallObserver | None = None
    # the client's request headers (case-insensitive lookups), for a provider's forward_headers;
    # they hold the client's credentials: never logged, never in a repr
    client_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # the attempts this request may still make, across retries and fallbacks (providers.budget)
    budget: RetryBudget = field(default_factory=RetryBudget)


@runtime_checkable
class Provider(Protocol):
    """A configured upstream. ``request`` is the client's validated body; ``upstream_model`` is
    the model name to send upstream (the client's name is restored by the caller)."""

    name: str
    type: str

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json: ...

    def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        """Yield the exact Anthropic event grammar: message_start ... message_stop.
        Errors before the first event raise ``GatewayError``; after it, they raise too and the
        caller turns them into an ``event: error`` frame."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Optional capability: count input tokens the way the upstream does."""

    async def count_tokens(self, request: Json, upstream_model: str, ctx: CallContext) -> int: ...


@runtime_checkable
class DescribesCapabilities(Protocol):
    """Optional capability: the ``ModelInfo.capabilities`` object (every key the SDK's
    ``ModelCapabilities`` declares) of the models this provider serves, when it knows them."""

    def model_capabilities(self) -> Json: ...


@runtime_checkable
class ForwardsUnknownFields(Protocol):
    """Optional capability: a provider that can be sent top-level request fields spec/ does not
    declare, unvalidated (``forwards_unknown_fields`` says whether this one is configured to)."""

    forwards_unknown_fields: bool


def forwards_unknown_fields(provider: Provider) -> bool:
    return isinstance(provider, ForwardsUnknownFields) and provider.forwards_unknown_fields is True
