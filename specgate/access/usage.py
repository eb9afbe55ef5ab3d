"""Token usage from a response, for correcting a reservation and for the usage ledger: a
Message's ``usage``, or the usage seen in a stream (``message_start``, then the cumulative
``message_delta``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from specgate.access.ledger import TOKEN_FIELDS, Account
from specgate.access.limiter import Ticket
from specgate.core.config import Price
from specgate.core.streams import TappedStream, tapped
from specgate.core.types import SSEEvent

INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_tokens(usage: Any) -> int | None:
    """Input (cache writes and reads included) + output tokens; None when there is no usage."""
    if not isinstance(usage, dict):
        return None
    total = 0
    for name in TOKEN_FIELDS:  # a loop: no generator per settled call
        value = usage.get(name)
        if type(value) is int and value > 0:  # not a bool (its own type), not negative
            total += value
    return total


class StreamUsage:
    """Tracks the usage a stream reports so far."""

    def __init__(self) -> None:
        self.input: dict[str, int] = {}
        self.output = 0
        self.seen = False

    def update(self, event: SSEEvent) -> None:
        kind = event.event  # a tap of every event: the name tells the two that carry usage
        if kind != "message_start" and kind != "message_delta":
            return
        data = event.data if isinstance(event.data, dict) else {}
        usage = (data.get("message") or {}).get("usage") if kind == "message_start" else data.get("usage")
        if not isinstance(usage, dict):
            return
        self.seen = True
        for f in INPUT_FIELDS:
            if f in usage:
                self.input[f] = _int(usage[f])
        if "output_tokens" in usage:
            self.output = _int(usage["output_tokens"])

    @property
    def reported(self) -> dict[str, int] | None:
        """The usage seen, as a Message's ``usage`` (None when the stream reported none)."""
        return {**self.input, "output_tokens": self.output} if self.seen else None

    @property
    def tokens(self) -> int | None:
        return sum(self.input.values()) + self.output if self.seen else None


def settling(
    rest: AsyncIterator[SSEEvent],
    usage: StreamUsage,
    ticket: Ticket,
    account: Account | None = None,
    price: Price | None = None,
) -> TappedStream:
    """``rest``, its usage recorded as it passes (a tap: no layer of its own); when it ends
    (completed, failed or cancelled by a client disconnect), the reservation is corrected with
    what was seen (nothing seen: given back) and the call written to the usage ledger (an error
    if the stream failed)."""

    async def settle(failed: bool) -> None:
        await ticket.settle(usage.tokens)
        if account is not None:
            await account.settle(usage.reported, price, error=failed)

    stream = tapped(rest)
    stream.tap(usage.update, first_delta_only=True)  # deltas carry no usage
    stream.on_close(settle)
    return stream
