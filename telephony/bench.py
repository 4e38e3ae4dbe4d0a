"""``callboard bench ami``: AMI throughput of gateway + tracker + bus against panoramisk alone.

A local AMI server (in its own process, so it does not compete for our event loop) serves the
recorded burst of trace 06 — repeated, re-numbered and interleaved so that ``copies x 20`` calls
are open at once — to every client that logs in. The baseline is panoramisk alone parsing the
stream; ours is the real gateway (panoramisk + conversion to AmiMessage) feeding the call tracker
and publishing its domain events on the in-process bus. Both run in the same process, in turns.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_core.bus.memory import InProcessBus
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.adapters.bench_baseline import panoramisk_count_events
from telephony.events import CallEnded, CallStarted
from telephony.ports import GatewayStatus
from telephony.tracker import CallTracker

__all__ = ["BenchResult", "build_stream", "run_bench"]

TRACE = "06-burst-20-concurrent-calls.jsonl"
END_MARKER = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchEnd\r\n\r\n"
_UNIQUEID = re.compile(r"\b(\d{10})\.(\d+)\b")
_LOCAL_SEQ = re.compile(r"-([0-9a-f]{8});")
_UUID_TAIL = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-)[0-9a-f]{12}\b")


@dataclass(frozen=True)
class BenchResult:
    """The figures printed as one JSON line."""

    events: int
    events_per_s: float
    baseline_events_per_s: float
    ratio: float
    ratio_min: float
    ratio_max: float
    peak_rss_mb: float
    concurrent_calls: int
    rounds: int


def _renumber(message: str, copy: int) -> str:
    message = _UNIQUEID.sub(lambda m: f"{int(m.group(1)) + copy * 1000}.{m.group(2)}", message)
    message = _LOCAL_SEQ.sub(lambda m: f"-{int(m.group(1), 16) + copy * 0x10000:08x};", message)
    return _UUID_TAIL.sub(lambda m: f"{m.group(1)}{copy:012x}", message)


def build_stream(traces_dir: Path, copies: int) -> tuple[bytes, int]:
    """The burst's server events, ``copies`` times, interleaved; and the number of events."""
    events: list[str] = []
    with (traces_dir / "timeline" / TRACE).open() as fh:
        for line in fh:
            record = json.loads(line)
            data = record.get("data", "")
            if record.get("dir") == "S>C" and data.startswith("Event:"):
                events.append(data)
    out = bytearray()
    for message in events:
        for copy in range(copies):
            out += _renumber(message, copy).encode()
    return bytes(out) + END_MARKER, len(events) * copies


def _serve(port_out: Any, stream: bytes) -> None:
    """The AMI server process: log in anyone, then send the stream."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        sent = False
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                text = block.decode(errors="replace")
                action_id = re.search(r"ActionID: (\S+)", text)
                aid = f"ActionID: {action_id.group(1)}\r\n" if action_id else ""
                if text.lower().startswith("action: login"):
                    writer.write(
                        f"Response: Success\r\n{aid}Message: Authentication accepted"
                        "\r\n\r\n".encode()
                    )
                    writer.write(
                        b"Event: FullyBooted\r\nPrivilege: system,all\r\n"
                        b"Status: Fully Booted\r\n\r\n"
                    )
                    if not sent:
                        sent = True
                        writer.write(stream)
                else:
                    writer.write(f"Response: Success\r\n{aid}\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_out.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def _ours(port: int) -> tuple[int, float, int]:
    # As `callboard serve` without Redis runs it (no JSON round trip: see Settings.bus_wire_check).
    bus = InProcessBus(check_wire_format=False)
    tracker = CallTracker("bench")
    gateway = PanoramiskGateway(
        AmiConfig(
            pbx="bench",
            host="127.0.0.1",
            port=port,
            username="bench",
            secret="bench",  # noqa: S106 — the local benchmark server accepts anything
            queue_size=1_000_000,
        )
    )
    sub = bus.subscribe(CallStarted, maxsize=10)  # a live subscriber, as in the service
    open_calls = peak = 0
    await gateway.start()
    try:
        await gateway.wait_status(GatewayStatus.CONNECTED)
        started = time.perf_counter()
        apply = tracker.apply
        done = False
        # The same loop as PbxRuntime.run_events: batches as they arrived, events published.
        async for batch in gateway.batches():
            at = batch.received_at
            for msg in batch.messages:
                name = msg.event
                if name == "UserEvent" and msg.get("UserEvent") == "BenchEnd":
                    done = True
                    break
                if name == "FullyBooted":
                    started = time.perf_counter()
                    continue
                events = apply(msg, at)
                if not events:
                    continue
                for event in events:
                    if isinstance(event, CallStarted):
                        open_calls += 1
                        peak = max(peak, open_calls)
                    elif isinstance(event, CallEnded):
                        open_calls -= 1
                    await bus.publish(event)
            if done:
                break
        elapsed = time.perf_counter() - started
        # Every event of the stream counts, also those the gateway ignored on arrival.
        # (The server sends FullyBooted first and the end marker last: neither counts.)
        count = gateway.received - 2
    finally:
        sub.unsubscribe()
        await gateway.stop()
        await bus.close()
    return count, elapsed, peak


def run_bench(traces_dir: Path, *, copies: int = 50, rounds: int = 5) -> BenchResult:
    """Run baseline and ours back to back ``rounds`` times; report medians.

    ``ratio`` is the median of the rounds' own ratios (ours / baseline of the same round, run
    one right after the other), not the ratio of the two medians: on a shared machine whose
    speed drifts by tens of percent from one minute to the next, pairing the two sides of a
    round cancels the drift. ``ratio_min``/``ratio_max`` show the spread of the rounds.
    """
    stream, expected = build_stream(traces_dir, copies)
    ctx = multiprocessing.get_context("spawn")
    port_q = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_q, stream), daemon=True)
    server.start()
    try:
        port = int(port_q.get(timeout=30))
        ours: list[float] = []
        base: list[float] = []
        peak = 0
        count = 0
        for _ in range(rounds + 1):  # the first round warms up both and is not counted
            n_base, t_base = asyncio.run(panoramisk_count_events(port, "BenchEnd"))
            n_ours, t_ours, peak = asyncio.run(_ours(port))
            # Both read the same stream through panoramisk, so both must see the same events
            # (panoramisk folds a few of the recorded messages, hence not always ``expected``).
            if abs(n_ours - n_base) > expected * 0.01 or n_base < expected * 0.99:
                raise RuntimeError(
                    f"stream of {expected} events: baseline saw {n_base}, ours {n_ours}"
                )
            base.append(n_base / t_base)
            ours.append(n_ours / t_ours)
            count = n_ours
        ours, base = ours[1:], base[1:]
    finally:
        server.terminate()
        server.join(10)
    events_per_s = statistics.median(ours)
    baseline = statistics.median(base)
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return BenchResult(
        events=count,
        events_per_s=round(events_per_s),
        baseline_events_per_s=round(baseline),
        ratio=round(statistics.median(ratios), 3),
        ratio_min=round(min(ratios), 3),
        ratio_max=round(max(ratios), 3),
        peak_rss_mb=round(rss_mb, 1),
        concurrent_calls=peak,
        rounds=rounds,
    )
