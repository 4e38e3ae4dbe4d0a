"""The WebSocket hub over real sockets: auth, commands, pushes through the bus, back-pressure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from crm_core.appkeys import BUS
from crm_core.errors import InvalidInput
from crm_core.push import push_to_users
from crm_core.users.permissions import Principal
from tests.conftest import AppMaker, add_user, login
from web.ws import HUB, Connection


async def _recv(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        msg = await ws.receive()
    assert msg.type == WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def _session(client: TestClient[Any, Any], username: str, *roles: str) -> dict[str, str]:
    """Sign ``username`` in and return the cookie header of that session alone."""
    await add_user(client, username, *roles)
    await login(client, username)
    cookie = next(c for c in client.session.cookie_jar if c.key == "callboard_session")
    client.session.cookie_jar.clear()
    return {"Cookie": f"callboard_session={cookie.value}"}


async def test_unauthenticated_socket_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/ws")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_cookie_socket_from_foreign_origin_is_refused(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    await login(client, "agent1")
    resp = await client.get(
        "/ws",
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 403


async def test_hello_ping_and_errors(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    await login(client, "agent1")
    async with client.ws_connect("/ws") as ws:
        hello = await _recv(ws)
        assert hello["type"] == "hello"
        assert hello["username"] == "agent1"
        await ws.send_str(json.dumps({"type": "ping", "id": 7}))
        assert await _recv(ws) == {"type": "pong", "id": 7}
        await ws.send_str("not json")
        assert (await _recv(ws))["error"]["code"] == "invalid_input"
        await ws.send_str(json.dumps({"id": 8}))
        assert (await _recv(ws))["id"] == 8
        await ws.send_str(json.dumps({"type": "launch_rockets", "id": 9}))
        err = await _recv(ws)
        assert err["id"] == 9
        assert err["error"]["code"] == "unknown_command"


async def test_commands_get_replies_with_their_id(make_client: AppMaker) -> None:
    async def echo(conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("fail"):
            raise InvalidInput("fail was set", details={"field": "fail"})
        return {"echo": msg.get("text"), "user": conn.principal.username}

    async def snapshot(p: Principal) -> list[dict[str, Any]]:
        return [{"type": "snapshot", "of": p.username}]

    def setup(app: web.Application) -> None:
        app[HUB].command("echo", echo)
        app[HUB].snapshot(snapshot)

    client = await make_client(setup=setup)
    headers = await _session(client, "agent1", "agent")
    async with client.ws_connect("/ws", headers=headers) as ws:
        assert (await _recv(ws))["type"] == "hello"
        assert await _recv(ws) == {"type": "snapshot", "of": "agent1"}
        await ws.send_str(json.dumps({"type": "echo", "id": "a1", "text": "hi"}))
        assert await _recv(ws) == {
            "type": "reply",
            "id": "a1",
            "ok": True,
            "data": {"echo": "hi", "user": "agent1"},
        }
        await ws.send_str(json.dumps({"type": "echo", "id": "a2", "fail": True}))
        err = await _recv(ws)
        assert err["id"] == "a2"
        assert err["error"]["code"] == "invalid_input"
        assert err["error"]["status"] == 400


@pytest.mark.parametrize("bus_kind", ["memory", "redis"])
async def test_push_reaches_only_the_addressed_user(
    make_client: AppMaker, bus_kind: str, redis_url: str, redis_prefix: str
) -> None:
    extra = {"redis_url": redis_url, "redis_prefix": redis_prefix} if bus_kind == "redis" else {}
    client = await make_client(**extra)
    h1 = await _session(client, "agent1", "agent")
    h2 = await _session(client, "agent2", "agent")
    async with (
        client.ws_connect("/ws", headers=h1) as ws1,
        client.ws_connect("/ws", headers=h2) as ws2,
        client.ws_connect("/ws", headers=h1) as ws1b,
    ):
        me1 = await _recv(ws1)
        me2 = await _recv(ws2)
        await _recv(ws1b)
        bus = client.app[BUS]
        await push_to_users(bus, (me1["user_id"],), {"type": "screen_pop", "n": 1})
        await push_to_users(bus, (me2["user_id"],), {"type": "screen_pop", "n": 2})
        assert await _recv(ws1) == {"type": "screen_pop", "n": 1}
        assert await _recv(ws1b) == {"type": "screen_pop", "n": 1}
        assert await _recv(ws2) == {"type": "screen_pop", "n": 2}


async def test_slow_socket_is_closed_and_others_keep_everything(
    client: TestClient[Any, Any],
) -> None:
    hub = client.app[HUB]
    hub.queue_size = 8
    hub.send_timeout = 0.5
    slow_headers = await _session(client, "agent1", "agent")
    fast_headers = await _session(client, "agent2", "agent")
    big = json.dumps({"type": "bulk", "pad": "x" * 200_000})
    count = 300
    async with (
        client.ws_connect("/ws", headers=slow_headers) as slow,
        client.ws_connect("/ws", headers=fast_headers) as fast,
    ):
        slow_uid = (await _recv(slow))["user_id"]
        fast_uid = (await _recv(fast))["user_id"]
        (fast_conn,) = hub.connections(fast_uid)

        async def read_fast() -> int:
            got = 0
            while got < count:
                msg = await fast.receive()
                assert msg.type == WSMsgType.TEXT
                got += 1
            return got

        reader = asyncio.create_task(read_fast())
        for _ in range(count):
            # Pace the producer on the fast socket's queue, not on time.
            while fast_conn.queue.qsize() > hub.queue_size // 2:
                await asyncio.sleep(0)
            hub.deliver((slow_uid, fast_uid), big)
        async with asyncio.timeout(30):
            assert await reader == count
        # The slow socket was dropped; it ends with a close or an aborted connection.
        async with asyncio.timeout(30):
            while True:
                msg = await slow.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        assert hub.connections(slow_uid) == []
        assert len(hub.connections(fast_uid)) == 1


async def test_shutdown_closes_sockets_with_going_away(
    make_client: AppMaker,
) -> None:
    client = await make_client()
    headers = await _session(client, "agent1", "agent")
    ws = await client.ws_connect("/ws", headers=headers)
    await _recv(ws)
    await client.app[HUB].close_all()
    async with asyncio.timeout(10):
        msg = await ws.receive()
    assert msg.type == WSMsgType.CLOSE
    assert msg.data == 1001
    await ws.close()
