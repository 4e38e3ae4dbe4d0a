"""``callboard bench screenpop``: from the AMI ringing event to the agent's console, over TCP.

Three processes, so that none of the measuring parts competes with the application's event loop:

- the **AMI server** (a purpose-built writer speaking AMI over TCP): streams background traffic
  (trace 06's calls, re-numbered and interleaved, paced at ``background_eps``) and rings the bench
  agents' seats with trace 04a's inbound queue call, re-numbered per call; the time of each
  ringing event (``AgentCalled``) is taken right at its write;
- the **application** (this process): ``web.app.create_app`` with its real wiring — the
  panoramisk gateway connects to the AMI server, tracker, bus, screen-pop dispatcher and builder,
  WebSocket hub — served by aiohttp on a TCP port;
- the **consoles**: one WebSocket per agent (signed in through ``POST /api/auth/login``), which
  note when a ``screen_pop`` has arrived and been parsed.

Both sides read the same clock (``time.perf_counter`` is CLOCK_MONOTONIC on Linux, shared by all
processes). The baseline runs in the same run, interleaved with the measured calls: calls with a
withheld caller ID (``anonymous``), which the real ``PopBuilder`` answers with ``contact: null``
without touching the database — the same path minus the CRM lookup and the contact snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import random
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, WSMsgType, web

from crm_core.crm.bench import (
    BENCH_REGION,
    asyncpg_dsn,
    bench_contact,
    ensure_bench_user,
    ensure_contacts,
    percentile,
)
from crm_core.crm.policies import crm_policies
from crm_core.db import create_engine, make_sessionmaker
from crm_core.errors import CallboardError
from crm_core.heap import freeze_startup_heap
from crm_core.migrate import upgrade
from crm_core.settings import Settings, load_settings
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import default_policies
from crm_core.users.service import UserService
from telephony.bench import build_stream
from telephony.store import CallStore

__all__ = ["ScreenPopBenchResult", "ring_call", "run_screenpop_bench"]

log = logging.getLogger(__name__)

PBX = "bench"
RING_TRACE = "04a-inbound-queue-answered.jsonl"
RINGS_PER_S = 10.0  # measured + baseline calls together (5 + 5 per second)
WARM_UP = 20  # call pairs rung first and not counted (connection pool, statement caches)
# After the ring, the rest of the call (answer, hang up) follows this much later: drawn per call
# (seeded), so that hang-ups fall at random times between rings, as on a real PBX. A fixed delay
# that is a multiple of the ring interval would put a hang-up (a call record to write, ~100
# events) at the very moment of every ring.
TALK_S = (0.2, 1.0)
_UNIQUEID = re.compile(r"\b(\d{10})\.(\d+)\b")
_LOCAL_SEQ = re.compile(r"-([0-9a-f]{8});")
_SEAT_1001 = re.compile(r"(?<![\d.])1001(?!\d)")
_LISTS = {
    "status": "StatusComplete",
    "queuestatus": "QueueStatusComplete",
    "coreshowchannels": "CoreShowChannelsComplete",
    "queuesummary": "QueueSummaryComplete",
}
AppFactory = Callable[[Settings], web.Application]


@dataclass(frozen=True)
class ScreenPopBenchResult:
    """The figures printed as one JSON line."""

    pops: int
    pop_p50_ms: float
    pop_p99_ms: float
    known_pops: int
    known_pop_p99_ms: float
    unknown_pop_p99_ms: float
    baseline_pops: int
    baseline_p50_ms: float
    baseline_p99_ms: float
    missed_pops: int
    agents: int
    contacts: int
    calls: int
    background_eps: int
    background_eps_achieved: float
    load_s: float
    load_avg_1m: float
    target_pop_p99_ms: float = 10.0


# -- the AMI server -------------------------------------------------------------------------------


def _server_events(traces_dir: Path, name: str) -> list[str]:
    out = []
    with (traces_dir / "timeline" / name).open() as fh:
        for line in fh:
            record = json.loads(line)
            data = record.get("data", "")
            if record.get("dir") == "S>C" and data.startswith("Event:"):
                out.append(data)
    return out


def ring_call(
    template: list[str], n: int, seat: str, caller: str
) -> tuple[str, bytes, bytes, bytes]:
    """Call ``n`` of the 04a template to ``seat`` from ``caller``: Linkedid, before, ring, after.

    ``ring`` is the ``AgentCalled`` event (the screen-pop trigger); ``before`` everything the
    PBX says earlier about the call, ``after`` the answer and the hang-up.
    """
    extension = seat.split("/", 1)[1].split("@", 1)[0]
    first = template.index(next(m for m in template if m.startswith("Event: Newchannel")))
    before, ring, after = bytearray(), b"", bytearray()
    linkedid = ""
    for message in template[first:]:
        if message.startswith("Event: OriginateResponse") or "\r\nActionID: " in message:
            continue  # answers to the recording's own actions, not part of the call
        text = _SEAT_1001.sub(extension, message).replace("Local/1001@agents", seat)
        text = _UNIQUEID.sub(lambda m: f"{1_900_000_000 + n}.{m.group(2)}", text)
        text = _LOCAL_SEQ.sub(lambda m: f"-{int(m.group(1), 16) + n * 0x100:08x};", text)
        text = text.replace("+302101234567", caller)
        if not linkedid and "Linkedid: " in text:
            linkedid = text.split("Linkedid: ", 1)[1].split("\r\n", 1)[0]
        if not ring and text.startswith("Event: AgentCalled"):
            ring = text.encode()
        elif ring:
            after += text.encode()
        else:
            before += text.encode()
    return linkedid, bytes(before), ring, bytes(after)


class _AmiServer:
    """Logs anyone in, answers actions, streams the background and rings on command."""

    def __init__(self, background: list[bytes], eps: int) -> None:
        self.background = background
        self.eps = eps
        self.writers: list[asyncio.StreamWriter] = []
        self.handlers: set[asyncio.Task[Any]] = set()
        self.connected = asyncio.Event()
        self.sent_background = 0
        self.background_s = 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode(errors="replace")
                headers = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
                aid = f"ActionID: {headers['ActionID']}\r\n" if "ActionID" in headers else ""
                action = headers.get("Action", "").lower()
                if action == "login":
                    writer.write(
                        f"Response: Success\r\n{aid}Message: Authentication accepted\r\n\r\n"
                        "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted"
                        "\r\n\r\n".encode()
                    )
                    self.writers.append(writer)
                    self.connected.set()
                elif action in _LISTS:
                    writer.write(
                        f"Response: Success\r\n{aid}EventList: start\r\nMessage: will follow"
                        f"\r\n\r\nEvent: {_LISTS[action]}\r\n{aid}EventList: Complete\r\n"
                        "ListItems: 0\r\n\r\n".encode()
                    )
                else:
                    writer.write(f"Response: Success\r\n{aid}\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    def write(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)

    async def stream_background(self) -> None:
        """Send the background at ``eps`` events per second, in 5 ms slices, catching up."""
        if self.eps <= 0 or not self.background:
            return
        started = time.perf_counter()
        i = 0
        try:
            while True:
                due = int((time.perf_counter() - started) * self.eps)
                if due > self.sent_background:
                    chunk = bytearray()
                    for _ in range(due - self.sent_background):
                        chunk += self.background[i]
                        i = (i + 1) % len(self.background)
                    self.write(bytes(chunk))
                    self.sent_background = due
                await asyncio.sleep(0.005)
        finally:
            self.background_s = time.perf_counter() - started


def _quiet_collector() -> None:
    """In the AMI server's and the consoles' processes, from the first ring on: no garbage
    collection. They are the measuring instruments; a full collection there (50-90 ms, measured)
    would stop the clock of the writes or the arrivals and be counted as the application's
    latency. They run for a couple of minutes, so what they leave uncollected stays small."""
    freeze_startup_heap()
    gc.disable()


def _serve(
    control: Connection, traces_dir: Path, eps: int, plan: list[tuple[str, str, float]]
) -> None:
    """The AMI server process: ``plan`` is the (seat, caller, talk seconds) of each call to
    ring, in order."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stream, _n = build_stream(traces_dir, 10)
        background = [m + b"\r\n\r\n" for m in stream.split(b"\r\n\r\n") if m.strip()]
        background = [m for m in background if b"BenchEnd" not in m]
        template = _server_events(traces_dir, RING_TRACE)
        server = _AmiServer(background, eps)
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        control.send(("port", tcp.sockets[0].getsockname()[1]))
        await loop.run_in_executor(None, control.recv)  # "go": app and consoles are ready
        _quiet_collector()
        await server.connected.wait()  # the application's gateway has logged in
        bg = asyncio.create_task(server.stream_background())
        rung: dict[str, float] = {}
        endings: set[asyncio.Task[None]] = set()

        async def finish(data: bytes, talk_s: float) -> None:
            await asyncio.sleep(talk_s)
            server.write(data)

        started = time.perf_counter()
        for n, (seat, caller, talk_s) in enumerate(plan):
            await asyncio.sleep(max(0.0, started + n / RINGS_PER_S - time.perf_counter()))
            linkedid, before, ring, after = ring_call(template, n, seat, caller)
            server.write(before)
            rung[linkedid] = time.perf_counter()
            server.write(ring)
            task = asyncio.create_task(finish(after, talk_s))
            endings.add(task)
            task.add_done_callback(endings.discard)
        await loop.run_in_executor(None, control.recv)  # "stop": the consoles have the pops
        bg.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bg
        for task in list(endings):
            task.cancel()
        achieved = server.sent_background / server.background_s if server.background_s else 0.0
        control.send(("done", rung, achieved))
        tcp.close()
        for writer in list(server.writers):
            writer.close()
        await asyncio.gather(*server.handlers, return_exceptions=True)

    asyncio.run(main())


# -- the consoles ----------------------------------------------------------------------------------


def _consoles(control: Connection, base_url: str, logins: list[tuple[str, str]], want: int) -> None:
    """The consoles' process: sign in, open /ws, note each pop's arrival by call id."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: dict[str, tuple[float, bool]] = {}
        all_in = asyncio.Event()
        signing_in = asyncio.Semaphore(4)  # password hashing is deliberately slow

        async def console(http: ClientSession, username: str, password: str) -> None:
            async with signing_in:
                async with http.post(
                    base_url + "api/auth/login", json={"username": username, "password": password}
                ) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"bench agent {username} cannot sign in: {resp.status}")
                ws = await http.ws_connect(base_url + "ws")
            ready.append(ws)
            if len(ready) == len(logins):
                all_ready.set()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data.get("type") == "screen_pop":
                    got[data["call"]["id"]] = (time.perf_counter(), data["contact"] is not None)
                    if len(got) >= want:
                        all_in.set()

        ready: list[Any] = []
        all_ready = asyncio.Event()
        sessions = [ClientSession(cookie_jar=CookieJar(unsafe=True)) for _ in logins]
        tasks = [
            asyncio.create_task(console(http, u, p))
            for http, (u, p) in zip(sessions, logins, strict=True)
        ]
        try:
            signed_in = asyncio.ensure_future(all_ready.wait())
            done, _ = await asyncio.wait({signed_in, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            if signed_in not in done:
                signed_in.cancel()
                for task in done:
                    task.result()  # raises what went wrong
                raise RuntimeError("a console closed before the benchmark started")
            control.send(("ready",))
            _quiet_collector()
            stop = loop.run_in_executor(None, control.recv)
            pending = asyncio.ensure_future(all_in.wait())
            await asyncio.wait({stop, pending}, return_when=asyncio.FIRST_COMPLETED)
            pending.cancel()
            control.send(("pops", dict(got)))
            await stop
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for http in sessions:
                await http.close()

    asyncio.run(main())


# -- the run ---------------------------------------------------------------------------------------


async def _recv(conn: Connection, timeout: float, what: str) -> Any:
    """The next message from a child process, or CallboardError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, conn.poll, timeout):
        raise CallboardError(f"the benchmark's {what} did not answer within {timeout:g} s")
    try:
        return conn.recv()
    except EOFError:
        raise CallboardError(f"the benchmark's {what} stopped (its error is above)") from None


def _plan(calls: int, seats: list[str], contacts: int, seed: int) -> list[tuple[str, str, float]]:
    """Measured calls (4 of 5 from known numbers, 1 unknown) interleaved with baseline calls,
    each with its talk time.

    The first WARM_UP pairs warm the application up and are not counted.
    """
    rng = random.Random(seed)
    plan = []
    for n in range(calls + WARM_UP):
        if n % 5 == 4:
            caller = f"+30231{rng.randrange(10_000_000):07d}"  # no bench contact is in 231
        else:
            caller = bench_contact(rng.randrange(contacts))[3][rng.randrange(2)][2]
        plan.append((seats[(2 * n) % len(seats)], caller, rng.uniform(*TALK_S)))
        plan.append((seats[(2 * n + 1) % len(seats)], "anonymous", rng.uniform(*TALK_S)))
    return plan


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 3) if values else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _prepare(
    database_url: str, contacts: int, agents: int
) -> tuple[float, list[tuple[str, str]], list[str]]:
    """Migrate, load or reuse the contacts, create the agents with their seats."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        data = await ensure_contacts(asyncpg_dsn(database_url), contacts)
        sessions = make_sessionmaker(engine)
        users = UserService(
            sessions, hashing=PasswordHashing(), policies=default_policies(extra=crm_policies())
        )
        store = CallStore(sessions, region=BENCH_REGION)
        logins, seats = [], []
        for k in range(agents):
            username = f"bench-agent-{k + 1}"
            password = secrets.token_urlsafe(18)
            principal = await ensure_bench_user(
                sessions, users, username, data.territory_id, password=password
            )
            seat = f"Local/{70000 + k}@agents"
            await store.assign_phone(principal.user_id, PBX, seat, ("support",))
            logins.append((username, password))
            seats.append(seat)
        return data.load_s, logins, seats
    finally:
        await engine.dispose()


async def run_screenpop_bench(
    settings: Settings,
    app_factory: AppFactory,
    *,
    contacts: int = 1_000_000,
    agents: int = 200,
    background_eps: int = 2000,
    calls: int = 500,
    traces_dir: Path,
    seed: int = 1,
) -> ScreenPopBenchResult:
    """Run the benchmark against ``settings``' PostgreSQL database; see the module docstring."""
    if agents < 1 or calls < 1 or background_eps < 0:
        raise CallboardError("--agents and --calls must be at least 1, --background-eps >= 0")
    database_url = settings.database_url.get_secret_value()
    asyncpg_dsn(database_url)  # PostgreSQL only
    load_s, logins, seats = await _prepare(database_url, contacts, agents)
    plan = _plan(calls, seats, contacts, seed)
    ctx = multiprocessing.get_context("spawn")
    ami_end, ami_child = ctx.Pipe()
    ami = ctx.Process(
        target=_serve, args=(ami_child, traces_dir, background_eps, plan), daemon=True
    )
    ami.start()
    ami_child.close()  # the child's end lives in the child: its exit is our EOF
    consoles_proc = None
    runner = None
    try:
        _, ami_port = await _recv(ami_end, 60, "AMI server")
        port = _free_port()
        bench_settings = load_settings(
            environ={},
            overrides={
                "database_url": database_url,
                "secret_key": secrets.token_urlsafe(48),
                "redis_url": None,
                "default_region": BENCH_REGION,
                "http_host": "127.0.0.1",
                "http_port": port,
                "pbx": [{"name": PBX, "ami_url": f"ami://bench:bench@127.0.0.1:{ami_port}"}],
            },
        )
        app = app_factory(bench_settings)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        freeze_startup_heap()  # as `callboard serve` does once started
        await web.TCPSite(runner, "127.0.0.1", port).start()
        con_end, con_child = ctx.Pipe()
        consoles_proc = ctx.Process(
            target=_consoles,
            args=(con_child, f"http://127.0.0.1:{port}/", logins, len(plan)),
            daemon=True,
        )
        consoles_proc.start()
        con_child.close()
        await _recv(con_end, 60 + agents, "consoles (sign-in)")
        ami_end.send(("go",))
        ring_s = len(plan) / RINGS_PER_S
        try:
            _, pops = await _recv(con_end, ring_s + 30, "consoles (pops)")
        except CallboardError:
            con_end.send(("stop",))
            _, pops = await _recv(con_end, 30, "consoles (pops)")
        with contextlib.suppress(OSError):  # after a "stop" the consoles are leaving anyway
            con_end.send(("exit",))
        ami_end.send(("stop",))
        _, rung, achieved = await _recv(ami_end, 30, "AMI server")
    finally:
        if runner is not None:
            await runner.cleanup()
        for proc in (consoles_proc, ami):
            if proc is not None:
                proc.join(10)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5)
    measured: list[float] = []
    known: list[float] = []
    unknown: list[float] = []
    baseline: list[float] = []
    missed = 0
    for n, (linkedid, written) in enumerate(rung.items()):
        if n < 2 * WARM_UP:
            continue
        arrival = pops.get(linkedid)
        if arrival is None:
            missed += 1
            continue
        took = arrival[0] - written
        if n % 2 == 1:
            baseline.append(took)
        else:
            measured.append(took)
            (known if arrival[1] else unknown).append(took)
    return ScreenPopBenchResult(
        pops=len(measured),
        pop_p50_ms=_ms(measured, 50),
        pop_p99_ms=_ms(measured, 99),
        known_pops=len(known),
        known_pop_p99_ms=_ms(known, 99),
        unknown_pop_p99_ms=_ms(unknown, 99),
        baseline_pops=len(baseline),
        baseline_p50_ms=_ms(baseline, 50),
        baseline_p99_ms=_ms(baseline, 99),
        missed_pops=missed,
        agents=agents,
        contacts=contacts,
        calls=calls,
        background_eps=background_eps,
        background_eps_achieved=round(achieved, 1),
        load_s=round(load_s, 1),
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
