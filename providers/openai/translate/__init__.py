"""Pure translation between the Anthropic Messages API and OpenAI ``/chat/completions``.

No I/O here: the adapter (``providers.openai.adapter``) does HTTP and calls these functions.
``request`` maps the Anthropic request up, ``response`` maps a completion down, ``stream`` maps
chunks to the Anthropic event grammar, ``common`` holds what they share.

Lossy choices, decided once and documented here:

* ``providers.openai.policy`` says, for every request field, role, block and tool type, whether
  it is translated, ignored (harmless to leave out) or refused with a 400 naming it;
  ``to_chat_request`` applies those refusals first (``policy.check``).
* ``system`` text blocks are joined with a blank line into one ``system`` message; a
  ``role: "system"`` message becomes a system message at its position (Claude Code sends one as
  the last message), or is left out when its ``clear_at: "next_user_message"`` has passed.
* A user turn's ``tool_result`` blocks become ``role: "tool"`` messages placed *before* the rest
  of that turn (OpenAI requires tool messages right after the assistant's ``tool_calls``; a
  system message sent between the two is moved after them). Their text is joined with newlines;
  their images follow in the turn's user message, since tool messages carry text only.
  ``is_error: true`` prefixes the content with ``"Error: "`` because OpenAI has no error flag on
  tool messages.
* ``output_config.format`` (or ``output_format``) becomes a strict ``json_schema``
  ``response_format``: an upstream that cannot enforce the schema says so with its own 400.
* ``finish_reason: "stop"`` becomes ``end_turn``: OpenAI does not say whether a requested stop
  sequence ended the text. Only when the upstream names the matched string (vLLM puts it in the
  choice's ``stop_reason``) do we answer ``stop_sequence`` with that string.
* A tool call whose ``arguments`` is not a JSON object raises ``ApiError``; an empty or blank
  ``arguments`` string (what some servers send for no-argument tools) means ``{}``.
* Missing usage is estimated at ~4 characters per token (``estimate_tokens``).
* Responses are complete Anthropic shapes (``providers.shapes``): every key the SDK's types
  declare, ``null`` or zero where OpenAI has no equivalent (``container``, ``diagnostics``,
  ``usage.inference_geo``, ``speed``, text ``citations``, tool_use ``toolset_name``; the caller is
  always ``direct``). ``completion_tokens_details.reasoning_tokens`` becomes
  ``usage.output_tokens_details.thinking_tokens``; the completion's ``service_tier`` becomes
  ``usage.service_tier`` where it has an Anthropic equivalent (``default`` -> ``standard``,
  ``priority``), else ``null``. A ``refusal`` stop carries ``stop_details`` of type ``refusal``
  with ``category`` and ``explanation`` ``null`` (OpenAI names neither).
"""

from __future__ import annotations

from providers.openai.translate.common import estimate_input_tokens, estimate_tokens, random_id
from providers.openai.translate.request import to_chat_request
from providers.openai.translate.response import (
    from_chat_response,
    map_usage,
    message_id_for,
    parse_tool_arguments,
    service_tier_for,
    stop_details_for,
    stop_reason_for,
)
from providers.openai.translate.stream import ChatStreamTranslator

__all__ = [
    "ChatStreamTranslator",
    "estimate_input_tokens",
    "estimate_tokens",
    "from_chat_response",
    "map_usage",
    "message_id_for",
    "parse_tool_arguments",
    "random_id",
    "service_tier_for",
    "stop_details_for",
    "stop_reason_for",
    "to_chat_request",
]
