"""The AMI wire format: an immutable message, an incremental parser and an encoder.

AMI is a line protocol over TCP: the server first sends one banner line
(``Asterisk Call Manager/11.0.0``), then both sides exchange messages made of ``Name: value``
lines ended by CRLF, each message closed by an empty line. Header names may repeat
(``Variable``, ``ChanVariable``), so a message keeps its headers as an ordered tuple of pairs.
Old Asterisk versions answer ``Action: Command`` with ``Response: Follows`` and raw output lines
closed by ``--END COMMAND--``; those lines are kept as repeated ``Output`` headers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "BANNER_PREFIX",
    "AmiMessage",
    "AmiParser",
    "MissingHeader",
    "encode_message",
    "parse_stream",
]

logger = logging.getLogger(__name__)

_new = object.__new__
_LOWERED: dict[str, str] = {}  # header name as the code spells it -> lower case (lookups)
_setattr = object.__setattr__

BANNER_PREFIX: Final = "Asterisk Call Manager/"
_END_COMMAND: Final = "--END COMMAND--"
# A peer that never sends an empty line must not make us buffer without bound.
_MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024


class MissingHeader(KeyError):
    """A header that the caller relies on is absent from the message."""

    def __init__(self, name: str, message: AmiMessage) -> None:
        super().__init__(name)
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return f"missing header {self.name!r} in {self.message.name or 'message'}"


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: ordered ``(name, value)`` pairs, repeated names kept."""

    headers: tuple[tuple[str, str], ...]
    # Lower-case name -> first value, built on first lookup (a message is read several times).
    _index: dict[str, str] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def with_index(cls, headers: tuple[tuple[str, str], ...], index: dict[str, str]) -> AmiMessage:
        """A message whose lower-case lookup index is already known (lower name -> first value)."""
        # The conversion hot path: skip the dataclass __init__ (frozen: one setattr per field).
        message: AmiMessage = _new(cls)
        _setattr(message, "headers", headers)
        _setattr(message, "_index", index)
        return message

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), value)
            object.__setattr__(self, "_index", index)
        return index

    @classmethod
    def build(cls, *pairs: tuple[str, str], **headers: str) -> AmiMessage:
        """Build a message from pairs (kept first, in order) and then keyword headers."""
        return cls(tuple(pairs) + tuple(headers.items()))

    @classmethod
    def action(cls, name: str, headers: Mapping[str, str] | None = None, /) -> AmiMessage:
        """Build an ``Action:`` message; values that are lists become repeated headers."""
        pairs: list[tuple[str, str]] = [("Action", name)]
        for key, value in (headers or {}).items():
            pairs.append((key, value))
        return cls(tuple(pairs))

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of header ``name`` (case-insensitive) or ``default``."""
        index = self._index
        key = _LOWERED.get(name)
        if key is None:
            key = name.lower()
            if len(_LOWERED) < 4096:  # header names are few; never grow without bound
                _LOWERED[name] = key
        return (index if index is not None else self._lookup()).get(key, default)

    def require(self, name: str) -> str:
        """Return the first value of header ``name`` or raise :class:`MissingHeader`."""
        value = self.get(name)
        if value is None:
            raise MissingHeader(name, self)
        return value

    def __getitem__(self, name: str) -> str:
        return self.require(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Return every value of header ``name`` in order."""
        lowered = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == lowered)

    @property
    def kind(self) -> str:
        """Return ``event``, ``response``, ``action`` or ``unknown`` from the first header."""
        if not self.headers:
            return "unknown"
        first = self.headers[0][0].lower()
        return first if first in ("event", "response", "action") else "unknown"

    @property
    def name(self) -> str:
        """Return the event name, response status or action name ('' if none)."""
        if self.kind == "unknown":
            return ""
        return self.headers[0][1]

    @property
    def event(self) -> str | None:
        """Return the ``Event`` header."""
        index = self._index
        return (index if index is not None else self._lookup()).get("event")

    @property
    def response(self) -> str | None:
        """Return the ``Response`` header."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        """Return the ``ActionID`` header."""
        return self.get("ActionID")

    def variables(self) -> dict[str, str]:
        """Return ``Variable``/``ChanVariable`` headers of the form ``NAME=value`` as a dict."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            lowered = key.lower()
            if lowered == "variable" or lowered.startswith("chanvariable"):
                var, sep, val = value.partition("=")
                if sep:
                    result[var] = val
        return result

    def with_headers(self, **headers: str) -> AmiMessage:
        """Return a copy with the given headers replaced in place or appended."""
        pending = dict(headers)
        pairs: list[tuple[str, str]] = []
        for key, value in self.headers:
            if key in pending:
                pairs.append((key, pending.pop(key)))
            else:
                pairs.append((key, value))
        pairs.extend(pending.items())
        return AmiMessage(tuple(pairs))

    def as_dict(self) -> dict[str, str]:
        """Return the headers as a dict; for repeated names the first value wins."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            result.setdefault(key, value)
        return result

    def encode(self) -> bytes:
        """Return the CRLF wire form, closed by an empty line."""
        return encode_message(self)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)


def encode_message(message: AmiMessage) -> bytes:
    """Encode a message to its CRLF wire form, closed by an empty line."""
    lines: list[str] = []
    for key, value in message.headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {key!r} holds a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class AmiParser:
    """Incremental parser for a stream of AMI bytes (either direction)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pairs: list[tuple[str, str]] = []
        self._in_follows = False
        self.banners: list[str] = []

    @property
    def banner(self) -> str | None:
        """Return the last banner line seen, if any."""
        return self.banners[-1] if self.banners else None

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Consume bytes and return every message they complete."""
        self._buffer.extend(data)
        out: list[AmiMessage] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > _MAX_MESSAGE_BYTES:
                    raise ValueError("AMI line too long")
                return out
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            message = self._line(line)
            if message is not None:
                out.append(message)

    def _line(self, line: str) -> AmiMessage | None:
        if self._in_follows:
            if line.endswith(_END_COMMAND):
                head = line[: -len(_END_COMMAND)]
                if head:
                    self._pairs.append(("Output", head))
                self._in_follows = False
                return None
            if ": " not in line and line:
                self._pairs.append(("Output", line))
                return None
        if not line:
            if not self._pairs:
                return None
            message = AmiMessage(tuple(self._pairs))
            self._pairs = []
            self._in_follows = False
            return message
        if not self._pairs and line.startswith(BANNER_PREFIX):
            self.banners.append(line)
            return None
        name, sep, value = line.partition(":")
        if not sep:
            # Raw output (e.g. after "Response: Follows"); keep it rather than drop it.
            self._pairs.append(("Output", line))
            return None
        if value.startswith(" "):
            value = value[1:]
        self._pairs.append((name, value))
        if (
            len(self._pairs) == 1
            and name.lower() == "response"
            and value.strip().lower() == "follows"
        ):
            self._in_follows = True
        return None

    def pending(self) -> bool:
        """Return True if a message has started but is not complete."""
        return bool(self._pairs) or bool(self._buffer)


def parse_stream(chunks: Iterable[bytes]) -> list[AmiMessage]:
    """Parse a whole stream given as chunks; convenience for tests and tools."""
    parser = AmiParser()
    out: list[AmiMessage] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out
