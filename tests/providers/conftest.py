from tests.fakes.fixtures import (  # noqa: F401
    anthropic_upstream,
    anthropic_upstream_factory,
    openai_upstream,
    openai_upstream_factory,
)
