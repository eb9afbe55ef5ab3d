"""specgate.fuzz.cases: the spec copy schemathesis reads."""

from __future__ import annotations

import json

from specgate.contract import spec
from specgate.fuzz.cases import schemathesis_spec


def test_the_sse_content_keywords_are_unprefixed_in_a_copy() -> None:
    document = spec.bundle()
    before = json.dumps(document, sort_keys=True)
    copy = schemathesis_spec(document)
    assert json.dumps(document, sort_keys=True) == before  # the served spec is untouched
    schemas = copy["components"]["schemas"]
    anthropic_data = schemas["MessageStreamSSE"]["properties"]["data"]
    assert anthropic_data["contentMediaType"] == "application/json"
    assert anthropic_data["contentSchema"] == {"$ref": "#/components/schemas/StreamEvent"}
    chunk_data = schemas["ChunkSSE"]["properties"]["data"]["oneOf"]
    assert chunk_data[0] == {"type": "string", "enum": ["[DONE]"]}
    assert chunk_data[1]["contentSchema"] == {"$ref": "#/components/schemas/ChunkPayload"}
    assert "x-contentSchema" not in json.dumps(copy) and "x-contentMediaType" not in json.dumps(copy)
