"""providers.router: first match wins, and the remembered resolutions stay right and bounded."""

from __future__ import annotations

from typing import Any, cast

from providers import router as router_module
from providers.base import Provider
from providers.router import Router
from specgate.core.config.models import ModelRoute


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def _router() -> Router:
    providers = cast("dict[str, Provider]", {"a": _Named("a"), "b": _Named("b")})
    routes = [
        ModelRoute(match="exact-model", provider="a", upstream_model="upstream-exact"),
        ModelRoute(match="claude-*", provider="b"),
    ]
    return Router(routes, providers)


def test_first_match_wins_and_a_repeat_gives_the_same_target() -> None:
    router = _router()
    exact = router.resolve("exact-model")
    assert exact is not None and exact.provider.name == "a" and exact.upstream_model == "upstream-exact"
    glob = router.resolve("claude-x")
    assert glob is not None and glob.provider.name == "b" and glob.upstream_model == "claude-x"
    assert router.resolve("claude-x") is glob
    assert router.resolve("gpt-4") is None
    assert router.resolve("gpt-4") is None


def test_the_memory_of_client_model_names_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(router_module, "RESOLVED_CACHE", 8)
    router = _router()
    for i in range(50):
        target = router.resolve(f"claude-{i}")
        assert target is not None and target.upstream_model == f"claude-{i}"
        assert len(router._resolved) <= 8
    again = router.resolve("claude-3")
    assert again is not None and again.upstream_model == "claude-3"
