"""``specgate serve | spec-check | routes``."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import logging.config
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from starlette.types import ASGIApp

from providers.registry import provider_types
from specgate.contract import spec
from specgate.contract.resolver import HandlerResolutionError, HandlerResolver
from specgate.core.config import Config, ConfigError, load_config

CONFIG_ENV = "SPECGATE_CONFIG"
log = logging.getLogger("specgate")


def _load(path: str | None) -> Config:
    return load_config(path, known_provider_types=tuple(provider_types()))


def app_from_env() -> ASGIApp:
    """uvicorn factory (used with --workers): the config path comes from $SPECGATE_CONFIG."""
    from specgate.app import create_app

    return create_app(_load(os.environ.get(CONFIG_ENV) or None))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"specgate: config error: {exc}", file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = args.port or config.server.port
    from specgate.ops.logs import logging_config

    log_config = logging_config(config.log_level, config.log_format)
    logging.config.dictConfig(log_config)
    if (
        not config.auth.enabled
        and not is_loopback(host)
        and not (args.allow_unauthenticated or config.server.allow_unauthenticated)
    ):
        print(
            f"specgate: refusing to serve {host} with no auth.api_keys or auth.virtual_keys configured: "
            "anyone could use it. Configure keys, bind a loopback address, or pass --allow-unauthenticated.",
            file=sys.stderr,
        )
        return 2
    # before prometheus_client is first imported: it picks its storage from the environment
    owned_dir = _prepare_metrics_dir(args.workers)
    try:
        return _serve(args, config, host, port, log_config)
    finally:
        if owned_dir is not None:
            shutil.rmtree(owned_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, config: Config, host: str, port: int, log_config: dict[str, object]) -> int:
    try:  # build once in this process so spec and handler errors fail here, clearly
        from specgate.app import create_app

        create_app(config)
    except (spec.SpecError, HandlerResolutionError) as exc:
        print(f"specgate: cannot start: {exc}", file=sys.stderr)
        return 2
    if config.is_default:
        log.warning("no config file: no upstream is configured; every model is answered by the offline echo provider")
    if not config.auth.enabled:
        log.warning("no auth.api_keys or auth.virtual_keys configured: the API is open (serving on %s only)", host)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then restores the previous handlers and
    # raises the signal again; with these no-op handlers in place that ends in exit code 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    from specgate.access import keyid
    from specgate.wire import serving

    limits = serving.ServingLimits(
        config.server.header_timeout_s, config.server.max_connections, config.server.shutdown_grace_s
    )
    os.environ[serving.ENV] = limits.to_env()  # the workers' protocols read it
    if keyid.configured_secret(config) is None:  # one key-id secret for every worker of this run
        os.environ.setdefault(keyid.ENV, secrets.token_hex(32))
    if args.config:
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    else:
        os.environ.pop(CONFIG_ENV, None)
    _run_uvicorn(args, config, host, port, log_config)
    return 0


def _prepare_metrics_dir(workers: int) -> str | None:
    """Several workers share metrics through files in $PROMETHEUS_MULTIPROC_DIR (set before any
    worker starts, emptied so a previous run's values do not leak in). Returns the directory if
    we created it (removed at exit)."""
    from specgate.ops.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not given:
        return None
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    created = tempfile.mkdtemp(prefix="specgate-metrics-")
    os.environ[MULTIPROC_ENV] = created
    return created


def _run_uvicorn(args: argparse.Namespace, config: Config, host: str, port: int, log_config: dict[str, object]) -> None:
    import uvicorn

    from specgate.wire.serving import PROTOCOL

    uvicorn.run(
        "specgate.cli:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        loop="uvloop",
        http=PROTOCOL,  # httptools + a head deadline and a connection bound (specgate.wire.serving)
        access_log=False,
        log_config=log_config,
        log_level=config.log_level,
        # open streams are ended at server.shutdown_grace_s (specgate.ops.drain); uvicorn cancels
        # what is left a little later, after their last frames went out
        timeout_graceful_shutdown=math.ceil(config.server.shutdown_grace_s) + 2,
        lifespan="on",
    )


def cmd_spec_check(args: argparse.Namespace) -> int:
    spec_dir = Path(args.spec_dir) if args.spec_dir else None
    try:
        document = spec.bundle(spec_dir)
        spec.validate(document)
        resolver = HandlerResolver(args.handlers)
        operations = spec.operations(document)
        for operation in operations:
            resolver.resolve(operation.operation_id)
    except (spec.SpecError, HandlerResolutionError) as exc:
        print(f"spec-check: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"spec-check: OK ({len(operations)} operations, every operationId bound to a handler)")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    spec_dir = Path(args.spec_dir) if args.spec_dir else None
    try:
        document = spec.bundle(spec_dir)
    except spec.SpecError as exc:
        print(f"routes: {exc}", file=sys.stderr)
        return 1
    resolver = HandlerResolver(args.handlers)
    rows, problems, bound = [], [], set()
    for op in spec.operations(document):
        try:
            handler = resolver.describe(op.operation_id)
            bound.add(handler)
        except HandlerResolutionError as exc:
            handler = "-"
            problems.append(str(exc))
        rows.append((op.method, op.path, op.operation_id, handler, ", ".join(op.security) or "none"))
    widths = [
        max(len(str(r[i])) for r in [("METHOD", "PATH", "OPERATION", "HANDLER", "SECURITY"), *rows]) for i in range(5)
    ]
    for row in [("METHOD", "PATH", "OPERATION", "HANDLER", "SECURITY"), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for handler in resolver.all_handlers():
        if handler not in bound:
            problems.append(f"handler {handler} has no operation in the spec")
    for problem in problems:
        print(f"routes: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="specgate", description="A spec-first Anthropic Messages API gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default=None, help="bind address (default: config server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: config server.port, 8080)")
    serve.add_argument("--config", default=None, help="config file (default: embedded echo provider)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the port")
    serve.add_argument("--allow-unauthenticated", action="store_true", help="allow a non-loopback bind with no keys")
    serve.set_defaults(func=cmd_serve)
    for name, func, text in (
        ("spec-check", cmd_spec_check, "bundle and validate spec/, check every operationId has a handler"),
        ("routes", cmd_routes, "list every operation and its handler"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--spec-dir", default=None, help="spec directory (default: the packaged spec/)")
        p.add_argument("--handlers", nargs="+", default=["handlers"], help="handler packages")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    return int(args.func(args))
