"""The ``callboard`` command: demo, serve, migrate, create-user."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from crm_core.db import create_engine, make_sessionmaker, ping
from crm_core.errors import CallboardError
from crm_core.migrate import check_migrated, upgrade
from crm_core.settings import Settings, SettingsError, load_settings
from crm_core.users.models import Role
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import default_policies
from crm_core.users.service import UserService
from web.app import create_app
from web.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("callboard")

DEMO_USERS: list[tuple[str, str, list[str]]] = [
    ("admin", "Administrator", ["admin"]),
    ("supervisor", "Sofia Supervisor", ["supervisor"]),
    ("manager", "Manos Campaign-Manager", ["campaign_manager"]),
    *[(f"agent{i}", f"Agent {i}", ["agent"]) for i in range(1, 6)],
]
DEMO_TEAM = "Support"


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callboard",
        description="Callboard call-center platform. Settings come from CALLBOARD_* environment "
        "variables and/or a TOML file (--config); see README.md for every key.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="TOML settings file (default: $CALLBOARD_CONFIG)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the embedded demo (SQLite, in-process bus; no servers needed)",
        description="Set up and run the embedded demo: a SQLite file in --data-dir, in-process "
        "event bus and queues, bound to 127.0.0.1. Creates the demo users admin, supervisor, "
        "manager and agent1..agent5 (their password is reset to --password on every start).",
    )
    demo.add_argument(
        "--data-dir",
        default="./callboard-data",
        type=Path,
        help="where the database and the generated secret key live (default: ./callboard-data)",
    )
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default: 8080)")
    demo.add_argument(
        "--password", default="demo", help="password of every demo user (default: demo)"
    )

    serve = sub.add_parser(
        "serve",
        help="run the web service with the configured database, Redis and PBXes",
        description="Run the HTTP/WebSocket service. Refuses to start against a database that "
        "is not migrated (run `callboard migrate` first).",
    )
    serve.add_argument("--host", help="override http_host")
    serve.add_argument("--port", type=int, help="override http_port")

    sub.add_parser(
        "migrate",
        help="create or upgrade the database schema to this release",
        description="Upgrade the configured database to the newest schema revision.",
    )

    cu = sub.add_parser(
        "create-user",
        help="create a user account",
        description="Create a user. The password is read from --password-stdin or asked for "
        "interactively; it is never taken from the command line (it would show in `ps`).",
    )
    cu.add_argument("username")
    cu.add_argument(
        "--role",
        action="append",
        default=[],
        choices=[r.value for r in Role],
        help="a role to grant; repeat for several",
    )
    cu.add_argument("--display-name", default="")
    cu.add_argument("--email")
    cu.add_argument("--language", default="en")
    cu.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    return parser


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(args.config, overrides=overrides or None)


async def _migrate(settings: Settings) -> tuple[str | None, str]:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await ping(engine)
        return await upgrade(engine)
    finally:
        await engine.dispose()


async def _run_app(app: web.Application, host: str, port: int, banner: str) -> None:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=10)
        try:
            await site.start()
        except OSError as err:
            raise CliError(f"cannot listen on {host}:{port}: {err.strerror}") from None
        print(banner, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        await ping(engine)
        await check_migrated(engine)
        users = UserService(
            make_sessionmaker(engine), hashing=PasswordHashing(), policies=default_policies()
        )
        user = await users.create_user(
            username=args.username,
            password=password,
            roles=args.role,
            display_name=args.display_name,
            email=args.email,
            language=args.language,
        )
        return f"created user {user.username} (id {user.id}) with roles: " + (
            ", ".join(sorted(r.value for r in user.role_set)) or "none"
        )
    finally:
        await engine.dispose()


def _demo_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


async def _demo(args: argparse.Namespace) -> None:
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    settings = load_settings(
        args.config,
        overrides={
            "database_url": f"sqlite+aiosqlite:///{data_dir / 'callboard.db'}",
            "redis_url": None,
            "http_host": "127.0.0.1",
            "http_port": args.port,
            "secret_key": _demo_secret(data_dir),
            "data_dir": str(data_dir),
            "default_region": "GR",
            "default_timezone": "Europe/Athens",
            "pbx": [],
        },
    )
    configure_logging(settings)
    before, after = await _migrate(settings)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        users = UserService(
            make_sessionmaker(engine), hashing=PasswordHashing(), policies=default_policies()
        )
        for username, name, roles in DEMO_USERS:
            teams = [DEMO_TEAM] if roles[0] in {"agent", "supervisor"} else []
            await users.ensure_user(
                username=username,
                password=args.password,
                roles=roles,
                display_name=name,
                team_names=teams,
            )
    finally:
        await engine.dispose()
    url = f"http://127.0.0.1:{args.port}/"
    logins = ", ".join(u for u, _, _ in DEMO_USERS)
    banner = (
        f"Callboard demo running at {url}\n"
        f"  data directory: {data_dir}\n"
        f"  sign in as one of: {logins}\n"
        f"  password: {args.password}\n"
        f"  health: {url}healthz   API description: {url}api/openapi.json\n"
        "Press Ctrl+C to stop."
    )
    await _run_app(create_app(settings), "127.0.0.1", args.port, banner)


async def _serve(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["http_host"] = args.host
    if args.port:
        overrides["http_port"] = args.port
    settings = _settings(args, **overrides)
    configure_logging(settings)
    settings.require_secret_key()
    banner = f"Callboard serving on http://{settings.http_host}:{settings.http_port}/"
    await _run_app(create_app(settings), settings.http_host, settings.http_port, banner)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password; use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CliError("the passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callboard`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            asyncio.run(_demo(args))
        elif args.command == "serve":
            asyncio.run(_serve(args))
        elif args.command == "migrate":
            settings = _settings(args)
            configure_logging(settings)
            before, after = asyncio.run(_migrate(settings))
            where = settings.database_url_redacted()
            if before == after:
                print(f"database {where} is up to date (revision {after})")
            else:
                print(f"database {where} migrated from {before or 'empty'} to {after}")
        elif args.command == "create-user":
            settings = _settings(args)
            password = _read_password(args)
            print(asyncio.run(_create_user(settings, args, password)))
    except SettingsError as err:
        print(f"callboard: {err}", file=sys.stderr)
        return 2
    except (CallboardError, CliError) as err:
        message = err.message if isinstance(err, CallboardError) else str(err)
        print(f"callboard: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
