"""The WebSocket hub: ``GET /ws`` for consoles and wallboards.

One connection = one bounded outgoing queue + one writer task; a socket that cannot keep up is
closed (1013 "try again later") instead of stalling the others. Clients send JSON commands
``{"id", "type", ...}`` and get a reply with the same ``id``; the server pushes JSON messages with a
``type``. Packages register command handlers with :meth:`Hub.command` and push through the bus
(:mod:`crm_core.push`), so a user connected to any process receives them. On connect the client
first gets a ``hello`` and every registered snapshot (``snapshot`` providers), then the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from crm_core.appkeys import BUS, SUPERVISOR
from crm_core.bus.fanout import SubscriptionClosed, SubscriptionGap
from crm_core.errors import CallboardError, PermissionDenied
from crm_core.httpapi import ApiRegistry
from crm_core.httpapi import principal as api_principal
from crm_core.push import PushToUsers
from crm_core.users.permissions import Principal
from web.errors import status_of
from web.middleware import origin_allowed

__all__ = ["HUB", "CommandHandler", "Hub", "SnapshotProvider", "ws_handler"]

log = logging.getLogger(__name__)

CommandHandler = Callable[["Connection", dict[str, Any]], Awaitable[dict[str, Any] | None]]
SnapshotProvider = Callable[[Principal], Awaitable[list[dict[str, Any]]]]
QUEUE_SIZE = 256
MAX_MESSAGE = 64 * 1024


@dataclass(eq=False)
class Connection:
    """One open socket of one signed-in user."""

    ws: web.WebSocketResponse
    principal: Principal
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    transport: asyncio.Transport | None = None
    closed_reason: str | None = None

    def offer(self, text: str) -> bool:
        """Queue ``text`` for sending; False (and the socket is marked for closing) when full."""
        if self.closed_reason is not None:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.closed_reason = "too slow"
            # Wake the writer so it closes the socket.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False
        return True

    def send_json(self, message: dict[str, Any]) -> bool:
        """Queue one message."""
        return self.offer(json.dumps(message, separators=(",", ":"), default=str))


class Hub:
    """Every open socket of this process, by user."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE, send_timeout: float = 10.0) -> None:
        self.send_timeout = send_timeout
        self._by_user: dict[int, set[Connection]] = defaultdict(set)
        self._commands: dict[str, CommandHandler] = {}
        self._snapshots: list[SnapshotProvider] = []
        self.queue_size = queue_size
        self.closing = False

    def command(self, name: str, handler: CommandHandler) -> None:
        """Handle client messages of type ``name``."""
        if name in self._commands:
            raise ValueError(f"command {name!r} is registered twice")
        self._commands[name] = handler

    def snapshot(self, provider: SnapshotProvider) -> None:
        """Messages every new connection gets before the live stream."""
        self._snapshots.append(provider)

    def connections(self, user_id: int | None = None) -> list[Connection]:
        """Open connections (of one user)."""
        if user_id is not None:
            return list(self._by_user.get(user_id, ()))
        return [c for conns in self._by_user.values() for c in conns]

    def deliver(self, user_ids: tuple[int, ...], text: str) -> int:
        """Queue an already-serialised message for these users; return how many sockets."""
        count = 0
        for uid in user_ids:
            for conn in tuple(self._by_user.get(uid, ())):
                count += conn.offer(text)
        return count

    def _add(self, conn: Connection) -> None:
        self._by_user[conn.principal.user_id].add(conn)

    def _remove(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.principal.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_user[conn.principal.user_id]

    async def run_bus_listener(self, app: web.Application) -> None:
        """Deliver PushToUsers events from the bus to local sockets (runs supervised)."""
        async with app[BUS].subscribe(PushToUsers, maxsize=10_000) as sub:
            while True:
                try:
                    event = await sub.get()
                except SubscriptionGap:
                    # Pushes were lost: tell every client to reload its state.
                    for conn in self.connections():
                        conn.send_json({"type": "resync"})
                    continue
                except SubscriptionClosed:
                    return
                assert isinstance(event, PushToUsers)
                self.deliver(event.user_ids, event.message)

    async def close_all(self) -> None:
        """Close every socket with GOING_AWAY (server shutdown)."""
        self.closing = True
        for conn in self.connections():
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def dispatch(self, conn: Connection, raw: str) -> None:
        """Handle one client message; every problem is answered, never raised."""
        try:
            msg = json.loads(raw)
        except ValueError:
            conn.send_json(
                {
                    "type": "error",
                    "error": {"code": "invalid_input", "message": "messages must be JSON objects"},
                }
            )
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            conn.send_json(
                {
                    "type": "error",
                    "id": msg.get("id") if isinstance(msg, dict) else None,
                    "error": {
                        "code": "invalid_input",
                        "message": "a message needs a string 'type'",
                    },
                }
            )
            return
        mid = msg.get("id")
        kind = msg["type"]
        if kind == "ping":
            conn.send_json({"type": "pong", "id": mid})
            return
        handler = self._commands.get(kind)
        if handler is None:
            conn.send_json(
                {
                    "type": "error",
                    "id": mid,
                    "error": {
                        "code": "unknown_command",
                        "message": f"unknown command {kind!r}",
                        "details": {"known": sorted(["ping", *self._commands])},
                    },
                }
            )
            return
        try:
            result = await handler(conn, msg)
        except CallboardError as err:
            conn.send_json(
                {
                    "type": "error",
                    "id": mid,
                    "error": {
                        "code": err.code,
                        "message": err.message,
                        "details": err.details,
                        "status": status_of(err),
                    },
                }
            )
            return
        except Exception:
            log.exception("command %s of user %s failed", kind, conn.principal.username)
            conn.send_json(
                {
                    "type": "error",
                    "id": mid,
                    "error": {"code": "internal_error", "message": "internal error"},
                }
            )
            return
        conn.send_json({"type": "reply", "id": mid, "ok": True, "data": result or {}})


HUB = web.AppKey("hub", Hub)


def _check_origin(request: web.Request, p: Principal) -> None:
    """Cross-site WebSocket hijacking: a cookie-authenticated socket must come from our pages."""
    if p.auth_method == "session" and not origin_allowed(request):
        raise PermissionDenied(
            "cross-site WebSocket refused (Origin does not match)", details={"reason": "origin"}
        )


async def _writer(conn: Connection, send_timeout: float) -> None:
    try:
        while True:
            text = await conn.queue.get()
            if text is None:
                break
            async with asyncio.timeout(send_timeout):
                await conn.ws.send_str(text)
    except TimeoutError:
        conn.closed_reason = "too slow"
    except ConnectionResetError:
        return
    if conn.closed_reason == "too slow":
        log.warning("closing the socket of %s: it does not keep up", conn.principal.username)
        try:
            async with asyncio.timeout(2):
                await conn.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
        except TimeoutError:
            if conn.transport is not None:
                conn.transport.abort()


async def ws_handler(request: web.Request) -> web.StreamResponse:
    """Open a WebSocket for the signed-in user."""
    hub = request.app[HUB]
    if hub.closing:
        raise web.HTTPServiceUnavailable(text="shutting down")
    principal = api_principal(request)
    _check_origin(request, principal)
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    transport = request.transport
    conn = Connection(
        ws,
        principal,
        asyncio.Queue(hub.queue_size),
        transport=transport if isinstance(transport, asyncio.Transport) else None,
    )
    hub._add(conn)
    writer = asyncio.create_task(
        _writer(conn, hub.send_timeout), name=f"ws-writer:{principal.username}"
    )
    try:
        conn.send_json(
            {"type": "hello", "user_id": principal.user_id, "username": principal.username}
        )
        for provider in hub._snapshots:
            for message in await provider(principal):
                conn.send_json(message)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await hub.dispatch(conn, msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.send_json(
                    {
                        "type": "error",
                        "error": {"code": "invalid_input", "message": "send text (JSON) messages"},
                    }
                )
            if writer.done():
                break
    finally:
        hub._remove(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        if not ws.closed:
            await ws.close()
    return ws


def install(app: web.Application, api: ApiRegistry) -> Hub:
    """Create the hub, declare ``/ws`` and start its bus listener with the application."""
    hub = Hub()
    app[HUB] = hub
    api.route(
        "GET",
        "/ws",
        summary="WebSocket for live pushes and console commands",
        tag="push",
        errors=(400, 401, 403),
        description="Upgrade to a WebSocket; see docs/web.md for the message format.",
    )(ws_handler)

    async def start_listener(app: web.Application) -> None:
        app[SUPERVISOR].start("ws-hub-bus-listener", lambda: hub.run_bus_listener(app))

    async def on_shutdown(app: web.Application) -> None:
        await app[SUPERVISOR].cancel("ws-hub-bus-listener")
        await hub.close_all()

    app.on_startup.append(start_listener)
    app.on_shutdown.append(on_shutdown)
    return hub
