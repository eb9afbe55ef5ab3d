"""operationId -> handler function. The spec names the operation; the handler is found by name.

``anthropicCreateMessage`` is looked up as ``anthropic_create_message`` among the public
coroutine functions defined in the modules of the handler packages (``handlers`` by default). A
dotted id (``mypkg.module.function``) is imported as it is. Exactly one match is required.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterable, Sequence
from types import FunctionType, ModuleType
from typing import Any

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class HandlerResolutionError(Exception):
    """An operationId has no handler (or several); the message names the operationId."""


def snake_case(operation_id: str) -> str:
    return _CAMEL.sub("_", operation_id).replace("-", "_").lower()


def handler_modules(packages: Sequence[str]) -> list[ModuleType]:
    modules: list[ModuleType] = []
    for name in packages:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if not info.name.startswith("_"):
                modules.append(importlib.import_module(f"{name}.{info.name}"))
    return modules


def public_handlers(modules: Iterable[ModuleType]) -> dict[str, list[tuple[str, Callable[..., Any]]]]:
    """function name -> [(module name, function)] for public async functions defined in each module."""
    found: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
    for module in modules:
        for attr, value in vars(module).items():
            if attr.startswith("_") or not isinstance(value, FunctionType) or not inspect.iscoroutinefunction(value):
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue
            found.setdefault(attr, []).append((module.__name__, value))
    return found


class HandlerResolver:
    def __init__(self, packages: Sequence[str] = ("handlers",)) -> None:
        self.packages = tuple(packages)
        self._index = public_handlers(handler_modules(self.packages))

    def resolve(self, operation_id: str) -> Callable[..., Any]:
        if not operation_id:
            raise HandlerResolutionError("an operation has no operationId")
        if "." in operation_id:
            module_name, _, attr = operation_id.rpartition(".")
            try:
                function = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise HandlerResolutionError(f"operationId {operation_id!r}: cannot import it ({exc})") from None
            return function  # type: ignore[no-any-return]
        name = snake_case(operation_id)
        matches = self._index.get(name, [])
        if not matches:
            raise HandlerResolutionError(
                f"operationId {operation_id!r} has no handler: define `async def {name}(...)` in a module "
                f"of the package(s) {', '.join(self.packages)}"
            )
        if len(matches) > 1:
            where = ", ".join(m for m, _ in matches)
            raise HandlerResolutionError(f"operationId {operation_id!r} is ambiguous: {name}() is defined in {where}")
        return matches[0][1]

    def describe(self, operation_id: str) -> str:
        """``module.name`` of the handler bound to ``operation_id`` (the name it is bound by)."""
        function = self.resolve(operation_id)
        if "." in operation_id:
            return operation_id
        return f"{function.__module__}.{snake_case(operation_id)}"

    def all_handlers(self) -> list[str]:
        return sorted(f"{m}.{name}" for name, items in self._index.items() for m, _ in items)
