"""The ``callboard`` command: demo, serve, migrate, create-user."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from crm_core.crm.demo import load_demo_data
from crm_core.db import create_engine, make_sessionmaker, ping
from crm_core.errors import CallboardError
from crm_core.heap import freeze_startup_heap
from crm_core.migrate import check_migrated, upgrade
from crm_core.settings import Settings, SettingsError, load_settings
from crm_core.users.models import Role
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import default_policies
from crm_core.users.service import UserService
from telephony.sim.server import PbxSimulator, start_simulator
from telephony.store import CallStore
from telephony.traffic import InboundTraffic, TrafficPlan
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
DEMO_CALLERS = (
    "+302101234567",
    "+302310555123",
    "+40213456789",
    "+3612345678",
    "6971234567",
    "+302109999990",
)


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
    demo.add_argument(
        "--no-pbx", action="store_true", help="do not start the built-in PBX simulator"
    )
    demo.add_argument(
        "--calls-per-minute",
        type=float,
        default=3.0,
        help="simulated inbound calls per minute (default: 3; 0 for none)",
    )

    sim = sub.add_parser(
        "pbx-sim",
        help="run the PBX simulator: an Asterisk-like AMI server over TCP",
        description="Run the PBX simulator that speaks AMI like the Asterisk 22 recorded in "
        "shared/ami-traces: agent seats 1001-1010 (answer at once), 2001-2009 (ring 3 s), 3001 "
        "(never answers), 3002 (busy); called numbers behave by their last digit; queues support, "
        "sales and empty. AMI users crm/crmsecret, crmfiltered/crmsecret, monitor/monsecret.",
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    sim.add_argument("--port", type=int, default=5038, help="AMI port (default: 5038)")
    sim.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run simulated time this many times faster (default: 1)",
    )
    sim.add_argument(
        "--calls-per-minute",
        type=float,
        default=0.0,
        help="generate inbound calls at this average rate (default: 0, none)",
    )
    sim.add_argument(
        "--callers",
        default=",".join(DEMO_CALLERS),
        help="comma-separated caller ids of generated calls",
    )
    sim.add_argument(
        "--queues",
        default="support,sales",
        help="comma-separated queues generated calls go to (default: support,sales)",
    )

    serve = sub.add_parser(
        "serve",
        help="run the web service with the configured database, Redis and PBXes",
        description="Run the HTTP/WebSocket service. Refuses to start against a database that "
        "is not migrated (run `callboard migrate` first).",
    )
    serve.add_argument("--host", help="override http_host")
    serve.add_argument("--port", type=int, help="override http_port")

    bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures as one JSON line",
        description="Benchmarks. `ami`: the recorded burst of trace 06, repeated and "
        "interleaved to COPIES x 20 concurrent calls, served over TCP by a local AMI server; "
        "prints events, events_per_s (gateway + tracker + bus), baseline_events_per_s "
        "(panoramisk alone, same run), ratio, peak_rss_mb, concurrent_calls. `lookup` and "
        "`screenpop`: load (or reuse) CONTACTS persons with two phones each into the configured "
        "PostgreSQL database, then measure caller-ID lookup and quick search, or the screen pop "
        "from the AMI ringing event to the agent's WebSocket; see docs/benchmarks.md.",
    )
    bench.add_argument("which", choices=["ami", "lookup", "screenpop"], help="what to measure")
    bench.add_argument(
        "--copies",
        type=int,
        default=50,
        help="copies of the 20-call burst (default: 50 = 1,000 calls)",
    )
    bench.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="measured rounds after one warm-up (default: 5; medians printed, the ratio as the "
        "median of each round's own ratio)",
    )
    bench.add_argument(
        "--traces",
        type=Path,
        default=None,
        help="the ami-traces folder (default: $CALLBOARD_SHARED_DIR/ami-traces, "
        "else ../shared/ami-traces beside the checkout)",
    )

    bench.add_argument(
        "--contacts",
        type=int,
        default=1_000_000,
        help="lookup/screenpop: persons in the data set (default: 1,000,000; reused when loaded)",
    )
    bench.add_argument(
        "--database-url",
        help="lookup/screenpop: a PostgreSQL database (default: the configured database_url)",
    )
    bench.add_argument(
        "--samples", type=int, default=2000, help="lookup: lookups measured (default: 2000)"
    )
    bench.add_argument(
        "--agents", type=int, default=200, help="screenpop: agent consoles (default: 200)"
    )
    bench.add_argument(
        "--background-eps",
        type=int,
        default=2000,
        help="screenpop: background AMI events per second (default: 2000)",
    )
    bench.add_argument(
        "--calls",
        type=int,
        default=500,
        help="screenpop: measured calls ringing agents, plus as many baseline calls (default: 500)",
    )

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
    freeze_startup_heap()  # started: what is alive now lives as long as the process
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=10)
        try:
            await site.start()
        except OSError as err:
            raise CliError(f"cannot listen on {host}:{port}: {err.strerror}") from None
        print(banner, flush=True)
        await _wait_for_signal()
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
    sim: PbxSimulator | None = None
    traffic_task: asyncio.Task[None] | None = None
    if not args.no_pbx:
        sim, traffic_task = await _start_sim(
            "127.0.0.1", 0, 1.0, args.calls_per_minute, list(DEMO_CALLERS), ["support", "sales"]
        )
    try:
        await _demo_app(args, sim)
    finally:
        if sim is not None:
            await _stop_sim(sim, traffic_task)


async def _demo_app(args: argparse.Namespace, sim: PbxSimulator | None) -> None:
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
            "pbx": []
            if sim is None
            else [{"name": "demo", "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}"}],
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
        store = CallStore(make_sessionmaker(engine), region=settings.default_region)
        ids: dict[str, int] = {}
        for username, name, roles in DEMO_USERS:
            teams = [DEMO_TEAM] if roles[0] in {"agent", "supervisor"} else []
            user = await users.ensure_user(
                username=username,
                password=args.password,
                roles=roles,
                display_name=name,
                team_names=teams,
            )
            ids[username] = user.id
            if sim is not None and username.startswith("agent"):
                # agentN sits at the simulator's seat 100N (support answers 1001 and 1002).
                seat = f"Local/100{username.removeprefix('agent')}@agents"
                await store.assign_phone(user.id, "demo", seat, ("support",))
        await load_demo_data(
            make_sessionmaker(engine),
            admin_user_id=ids["admin"],
            region=settings.default_region,
            timezone=settings.default_timezone,
            agent_user_ids=tuple(v for k, v in ids.items() if k.startswith("agent")),
        )
    finally:
        await engine.dispose()
    url = f"http://127.0.0.1:{args.port}/"
    sim_line = (
        f"  PBX simulator (AMI): 127.0.0.1:{sim.port} (crm/crmsecret), "
        f"{args.calls_per_minute:g} inbound calls per minute\n"
        if sim is not None
        else ""
    )
    logins = ", ".join(u for u, _, _ in DEMO_USERS)
    banner = (
        f"Callboard demo running at {url}\n"
        f"  data directory: {data_dir}\n"
        f"  sign in as one of: {logins}\n"
        f"  password: {args.password}\n"
        f"  health: {url}healthz   API description: {url}api/openapi.json\n"
        f"{sim_line}"
        "Press Ctrl+C to stop."
    )
    await _run_app(create_app(settings), "127.0.0.1", args.port, banner)


async def _start_sim(
    host: str,
    port: int,
    speed: float,
    rate: float,
    callers: list[str],
    queues: list[str],
) -> tuple[PbxSimulator, asyncio.Task[None] | None]:
    try:
        sim = await start_simulator(host, port, speed=speed)
    except OSError as err:
        raise CliError(
            f"the PBX simulator cannot listen on {host}:{port}: {err.strerror}"
        ) from None
    traffic_task = None
    if rate > 0:
        traffic = InboundTraffic(
            lambda caller, queue, patience: sim.inbound_call(caller, queue, patience),
            TrafficPlan(calls_per_minute=rate, caller_ids=callers, queues=queues),
        )
        traffic_task = asyncio.create_task(traffic.run(), name="simulated-inbound-traffic")
    return sim, traffic_task


async def _stop_sim(sim: PbxSimulator, traffic_task: asyncio.Task[None] | None) -> None:
    if traffic_task is not None:
        traffic_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await traffic_task
    await sim.close()


async def _pbx_sim(args: argparse.Namespace) -> None:
    if args.speed <= 0:
        raise CliError("--speed must be positive")
    callers = [c.strip() for c in args.callers.split(",") if c.strip()]
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    sim, traffic_task = await _start_sim(
        args.host, args.port, args.speed, args.calls_per_minute, callers, queues
    )
    print(
        f"PBX simulator (AMI) listening on {args.host}:{sim.port}; sign in as crm/crmsecret",
        flush=True,
    )
    try:
        await _wait_for_signal()
    finally:
        await _stop_sim(sim, traffic_task)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


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


def _traces_dir(given: Path | None) -> Path:
    candidates = [given] if given else []
    if os.environ.get("CALLBOARD_SHARED_DIR"):
        candidates.append(Path(os.environ["CALLBOARD_SHARED_DIR"]) / "ami-traces")
    candidates += [
        Path.cwd().parent / "shared" / "ami-traces",
        Path(__file__).resolve().parents[2] / "shared" / "ami-traces",
    ]
    for path in candidates:
        if path is not None and (path / "timeline").is_dir():
            return path
    raise CliError(
        "the recorded AMI traces were not found; pass --traces DIR (the folder shared/ami-traces)"
    )


def _bench(args: argparse.Namespace) -> str:
    if args.which in ("lookup", "screenpop"):
        return _bench_crm(args)
    from telephony.bench import run_bench  # the benchmark starts a process: import on demand

    if args.copies < 1 or args.rounds < 1:
        raise CliError("--copies and --rounds must be at least 1")
    result = run_bench(_traces_dir(args.traces), copies=args.copies, rounds=args.rounds)
    return json.dumps(dataclasses.asdict(result))


def _bench_crm(args: argparse.Namespace) -> str:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = _settings(args, **overrides)
    url = settings.database_url.get_secret_value()
    if args.which == "lookup":
        from crm_core.crm.bench import run_lookup_bench

        result: Any = asyncio.run(
            run_lookup_bench(url, contacts=args.contacts, samples=args.samples)
        )
    else:
        from screenpop.bench import run_screenpop_bench

        result = asyncio.run(
            run_screenpop_bench(
                settings,
                create_app,
                contacts=args.contacts,
                agents=args.agents,
                background_eps=args.background_eps,
                calls=args.calls,
                traces_dir=_traces_dir(args.traces),
            )
        )
    return json.dumps(dataclasses.asdict(result))


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
        elif args.command == "pbx-sim":
            asyncio.run(_pbx_sim(args))
        elif args.command == "bench":
            print(_bench(args), flush=True)
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
