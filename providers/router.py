"""Model routing: the config's ``models`` list, first match wins (exact name or glob)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from providers.base import Provider
from specgate.core.config import ModelRoute

RESOLVED_CACHE = 4096  # model names remembered by Router.resolve


@dataclass(frozen=True, slots=True)
class Target:
    provider: Provider
    upstream_model: str  # what is sent upstream
    route: ModelRoute


class Router:
    def __init__(self, routes: Sequence[ModelRoute], providers: Mapping[str, Provider]) -> None:
        self._routes = [(re.compile(fnmatch.translate(r.match)), r) for r in routes]
        self._providers = providers
        self.routes = tuple(routes)
        # model name -> its target: a request resolves its model three times (routing, forwarding,
        # the metrics label); bounded, as the names come from clients
        self._resolved: dict[str, Target | None] = {}

    def resolve(self, model: str) -> Target | None:
        try:
            return self._resolved[model]
        except KeyError:
            pass
        target = None
        for pattern, route in self._routes:
            if pattern.match(model):
                target = Target(self._providers[route.provider], route.upstream_model or model, route)
                break
        if len(self._resolved) >= RESOLVED_CACHE:
            self._resolved.clear()
        self._resolved[model] = target
        return target

    def chain(self, model: str) -> list[Target]:
        """The route for ``model`` followed by its fallbacks' routes (each model once)."""
        first = self.resolve(model)
        if first is None:
            return []
        out, seen = [first], {model}
        for name in first.route.fallbacks:
            if name in seen:
                continue
            seen.add(name)
            target = self.resolve(name)
            if target is not None:
                out.append(target)
        return out

    def exact_routes(self) -> list[ModelRoute]:
        """Routes whose match is an exact name, not a glob (listed by GET /v1/models)."""
        return [r for _, r in self._routes if not any(c in r.match for c in "*?[")]
