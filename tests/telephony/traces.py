"""Loader for the recorded AMI conversations in ``shared/ami-traces`` (the ground truth)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from telephony.protocol import AmiMessage, AmiParser

__all__ = [
    "EPOCH",
    "TraceLine",
    "TracedMessage",
    "at",
    "load_timeline",
    "server_messages",
    "shared_dir",
    "timeline_names",
    "traces_dir",
]

# Trace times are seconds since the start; the tracker needs aware datetimes.
EPOCH = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(t: float) -> datetime:
    """Return the aware datetime of a trace time."""
    return EPOCH + timedelta(seconds=t)


def shared_dir() -> Path:
    """Return the shared/ directory (``CALLBOARD_SHARED_DIR`` overrides)."""
    override = os.environ.get("CALLBOARD_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared"


def traces_dir() -> Path:
    """Return the directory of the AMI traces."""
    path = shared_dir() / "ami-traces"
    if not path.is_dir():
        raise FileNotFoundError(
            f"the recorded AMI traces are not at {path}: the repository must sit beside shared/ "
            "(as in CI), or set CALLBOARD_SHARED_DIR"
        )
    return path


@dataclass(frozen=True)
class TraceLine:
    """One line of a timeline: a message or a note."""

    t: float
    dir: str
    conn: str
    data: str


@dataclass(frozen=True)
class TracedMessage:
    """A parsed message with its time, direction and connection."""

    t: float
    dir: str
    conn: str
    message: AmiMessage


def timeline_names() -> list[str]:
    """Return the names (file stems) of every timeline."""
    return sorted(p.stem for p in (traces_dir() / "timeline").glob("*.jsonl"))


def resolve(name: str) -> str:
    """Resolve a scenario prefix such as ``03g`` to its full name."""
    matches = [n for n in timeline_names() if n == name or n.startswith(name + "-")]
    if len(matches) != 1:
        raise LookupError(f"no single trace named {name!r}: {matches}")
    return matches[0]


@cache
def load_timeline(name: str) -> tuple[TraceLine, ...]:
    """Load ``timeline/<name>.jsonl`` (a prefix such as ``02`` is enough)."""
    path = traces_dir() / "timeline" / f"{resolve(name)}.jsonl"
    lines: list[TraceLine] = []
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            obj = json.loads(raw)
            data = obj.get("data", obj.get("message", ""))
            lines.append(TraceLine(float(obj["t"]), obj["dir"], obj.get("conn", "-"), data))
    return tuple(lines)


@cache
def all_messages(name: str) -> tuple[TracedMessage, ...]:
    """Parse every message of a timeline through the real parser, one parser per direction."""
    parsers: dict[tuple[str, str], AmiParser] = {}
    out: list[TracedMessage] = []
    for line in load_timeline(name):
        if line.dir == "note":
            continue
        parser = parsers.setdefault((line.conn, line.dir), AmiParser())
        for message in parser.feed(line.data.encode("utf-8")):
            out.append(TracedMessage(line.t, line.dir, line.conn, message))
    return tuple(out)


def server_messages(name: str, conn: str | None = None) -> list[TracedMessage]:
    """Return the server-to-client messages of a trace, optionally of one connection."""
    return [m for m in all_messages(name) if m.dir == "S>C" and (conn is None or m.conn == conn)]


def client_messages(name: str, conn: str | None = None) -> list[TracedMessage]:
    """Return the client-to-server messages of a trace."""
    return [m for m in all_messages(name) if m.dir == "C>S" and (conn is None or m.conn == conn)]
