"""Operation handlers. Each public ``async def`` here is bound to the spec operation whose
operationId is its camelCase name (``anthropicCreateMessage`` -> ``anthropic_create_message``)."""
