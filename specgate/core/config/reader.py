"""Walking the parsed YAML: ``Reader`` checks keys and types, interpolates ``${ENV_VAR}`` (and
``${ENV_VAR:-default}``), and builds every ``ConfigError`` with the file and key path
(``config.yaml: providers[1].type: ...``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is invalid; the message says where and why."""


class Reader:
    """Walks the parsed YAML, checking keys and types, building messages with the key path."""

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def interpolate(self, value: Any, path: str) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in self.environ:
                    return self.environ[name]
                if default is not None:
                    return default
                raise self.fail(path, f"environment variable {name} is not set")

            return _ENV_RE.sub(sub, value)
        if isinstance(value, list):
            return [self.interpolate(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.interpolate(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        return value

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{path}.{key}" if path else str(key), f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def get(self, obj: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in obj or obj[key] is None:
            return default
        value = obj[key]
        where = f"{path}.{key}" if path else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (int in kinds or float in kinds) and str not in kinds:
            try:  # values that came from ${ENV} interpolation
                return int(value) if int in kinds else float(value)
            except ValueError:
                pass
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(where, f"must be {_kind_word(kinds)}")
        if not isinstance(value, kinds):
            raise self.fail(where, f"must be {_kind_word(kinds)}")
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{path}.{key}" if path else key, "must be a list of non-empty strings")
        return tuple(value)


def _kind_word(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
