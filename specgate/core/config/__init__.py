"""The config file: YAML with ``${ENV_VAR}`` interpolation, validated at start-up.

Every error names the file and the key path (``config.yaml: providers[1].type: ...``). With no
file, the embedded default routes every model to the offline ``echo`` provider.

``models`` holds the frozen dataclasses, ``reader`` the key/type checks and interpolation,
``parse`` the entry points and section parsers (``routes`` the providers and model routes,
``access`` the virtual keys and limits).
"""

from __future__ import annotations

from specgate.core.config.access import (
    BUDGET_PERIODS,
    MIN_KEY_LENGTH,
    VIRTUAL_KEY_FIELDS,
    BudgetPeriod,
    LimitsConfig,
    VirtualKeySpec,
    parse_limits,
    parse_virtual_keys,
)
from specgate.core.config.models import (
    DEFAULT_MAX_BODY_BYTES,
    AuthConfig,
    BatchesConfig,
    CloudConfig,
    Config,
    EntraConfig,
    JobsConfig,
    ModelRoute,
    Price,
    ProviderConfig,
    RetryBudgetConfig,
    ServerConfig,
    TracingConfig,
    default_config,
)
from specgate.core.config.parse import load_config, parse_config
from specgate.core.config.reader import ConfigError
from specgate.core.config.routes import FORWARDING_TYPES, LIFECYCLES

__all__ = [
    "BUDGET_PERIODS",
    "DEFAULT_MAX_BODY_BYTES",
    "FORWARDING_TYPES",
    "LIFECYCLES",
    "MIN_KEY_LENGTH",
    "VIRTUAL_KEY_FIELDS",
    "AuthConfig",
    "BatchesConfig",
    "BudgetPeriod",
    "CloudConfig",
    "Config",
    "ConfigError",
    "EntraConfig",
    "JobsConfig",
    "LimitsConfig",
    "ModelRoute",
    "Price",
    "ProviderConfig",
    "RetryBudgetConfig",
    "ServerConfig",
    "TracingConfig",
    "VirtualKeySpec",
    "default_config",
    "load_config",
    "parse_config",
    "parse_limits",
    "parse_virtual_keys",
]
