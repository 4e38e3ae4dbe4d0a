"""Callbacks: local times in the contact's zone, DST, assignees, lists, closing, due notices."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import WSMsgType

from crm_core.appkeys import BUS, SESSIONS
from crm_core.errors import InvalidInput
from dialer.callbacks import CallbackNotifier, local_to_utc
from dialer.console_schemas import CallbackOut
from tests.dialer.helpers import World, recv
from web.console_wiring import CALLBACK_NOTIFIER

FAR = datetime(2100, 1, 1, tzinfo=UTC)


def test_local_times_across_dst() -> None:
    athens = ZoneInfo("Europe/Athens")
    plain = local_to_utc(datetime(2099, 3, 2, 15, 30), athens)
    assert (plain.utc, plain.ambiguous) == (datetime(2099, 3, 2, 13, 30, tzinfo=UTC), False)
    # 03:30 does not exist on the spring-forward night: refused with the first valid time.
    with pytest.raises(InvalidInput, match=r"does not exist in Europe/Athens.*from 04:00"):
        local_to_utc(datetime(2099, 3, 29, 3, 30), athens)
    # 03:30 happens twice on the fall-back night: the first one (still summer time) is meant.
    twice = local_to_utc(datetime(2099, 10, 25, 3, 30), athens)
    assert twice.ambiguous
    assert twice.utc == datetime(2099, 10, 25, 0, 30, tzinfo=UTC)


async def test_schedule_in_the_contacts_time_zone(w: World) -> None:
    await w.api.as_("agent1")
    me = w.users["agent1"]
    # A Greek person: the number says Europe/Athens.
    cb = await w.api.post(
        "/api/callbacks",
        {"person_id": w.persons["maria"], "due_local": "2099-06-01T10:00", "notes": "offer"},
    )
    assert (cb["time_zone"], cb["phone"], cb["assigned_user_id"]) == (
        "Europe/Athens",
        "+302101234567",
        me,
    )
    assert cb["due_at"].startswith("2099-06-01T07:00:00")
    assert cb["status"] == "scheduled"
    # A New York number: its own zone; a toll-free number has many: the business zone.
    ny = await w.api.post(
        "/api/callbacks", {"phone": "+1 212 555 0100", "due_local": "2099-06-01T10:00"}
    )
    assert ny["time_zone"] == "America/New_York"
    assert ny["due_at"].startswith("2099-06-01T14:00:00")
    tf = await w.api.post(
        "/api/callbacks", {"phone": "+1 800 555 0100", "due_local": "2099-06-01T10:00"}
    )
    assert tf["time_zone"] == "Europe/Athens"
    given = await w.api.post(
        "/api/callbacks",
        {"phone": "+302101234567", "due_local": "2099-10-25T01:30", "time_zone": "Europe/Lisbon"},
    )
    assert given["time_zone"] == "Europe/Lisbon"
    assert given["due_at"].startswith("2099-10-25T00:30:00")  # the first 01:30 (WEST)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"phone": "+302101234567", "due_local": "2099-03-29T03:30"}, "due_local"),
        ({"phone": "+302101234567", "due_local": "2020-01-01T10:00"}, "due_local"),
        (
            {"phone": "+302101234567", "due_local": "2099-01-01T10:00", "time_zone": "Mars/Base"},
            "time_zone",
        ),
        (
            {
                "phone": "+302101234567",
                "due_local": "2099-01-01T10:00",
                "time_zone": "../etc/passwd",
            },
            "time_zone",
        ),
        ({"phone": "12", "due_local": "2099-01-01T10:00"}, "phone"),
        ({"due_local": "2099-01-01T10:00"}, "phone"),
        ({"person_id": w.persons["hidden"], "due_local": "2099-01-01T10:00"}, "person_id"),
    ]
    for body, field in cases:
        answer = await w.api.post("/api/callbacks", body, expect=400)
        assert answer["error"]["details"]["field"] == field, (body, answer)
    answer = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "2099-02-30T10:00"}, expect=400
    )
    assert "due_local" in answer["error"]["message"]
    answer = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "tomorrow"}, expect=400
    )
    assert answer["error"]["details"]["fields"][0]["field"] == "due_local"


async def test_assignees_scope_and_closing(w: World) -> None:
    await w.api.as_("agent1")
    mine = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "2099-06-01T10:00"}
    )
    colleague = await w.api.post(
        "/api/callbacks",
        {
            "phone": "+302101234567",
            "due_local": "2099-06-01T11:00",
            "assigned_user_id": w.users["agent2"],
        },
    )
    anyone = await w.api.post(
        "/api/callbacks",
        {"phone": "+302101234567", "due_local": "2099-06-01T12:00", "assigned_user_id": None},
    )
    assert anyone["assigned_user_id"] is None
    assert anyone["team_id"] is not None
    # Not for someone outside my teams, not for a user that does not exist.
    await w.api.post(
        "/api/callbacks",
        {
            "phone": "+302101234567",
            "due_local": "2099-06-01T12:00",
            "assigned_user_id": w.users["agent3"],
        },
        expect=403,
    )
    await w.api.post(
        "/api/callbacks",
        {"phone": "+302101234567", "due_local": "2099-06-01T12:00", "assigned_user_id": 99999},
        expect=400,
    )
    listed = await w.api.get("/api/callbacks")
    assert [c["id"] for c in listed["items"]] == [mine["id"], colleague["id"], anyone["id"]]
    only_mine = await w.api.get("/api/callbacks", mine="true")
    assert [c["id"] for c in only_mine["items"]] == [mine["id"]]
    await w.api.get("/api/callbacks", status="lost", expect=400)
    await w.api.get("/api/callbacks", due="tomorrow", expect=400)
    # agent2 sees the one given to them and the team's, not agent1's own.
    await w.api.as_("agent2")
    seen = {c["id"] for c in (await w.api.get("/api/callbacks"))["items"]}
    assert seen == {colleague["id"], anyone["id"]}
    await w.api.post(f"/api/callbacks/{mine['id']}/done", None, expect=404)
    taken = await w.api.post(f"/api/callbacks/{anyone['id']}/done", None, expect=200)
    assert taken["status"] == "done"
    await w.api.post(f"/api/callbacks/{anyone['id']}/cancel", None, expect=409)
    # Another team sees none of them; its supervisor neither; ours sees all three.
    await w.api.as_("agent3")
    assert (await w.api.get("/api/callbacks"))["items"] == []
    await w.api.post(f"/api/callbacks/{colleague['id']}/cancel", None, expect=404)
    await w.api.as_("sup2")
    assert (await w.api.get("/api/callbacks"))["items"] == []
    await w.api.as_("sup")
    assert len((await w.api.get("/api/callbacks"))["items"]) == 3
    cancelled = await w.api.post(f"/api/callbacks/{colleague['id']}/cancel", None, expect=200)
    assert cancelled["status"] == "cancelled"
    scheduled = await w.api.get("/api/callbacks", status="scheduled")
    assert [c["id"] for c in scheduled["items"]] == [mine["id"]]
    await w.api.as_("manager")
    await w.api.get("/api/callbacks", expect=403)


async def _drain_pushes(ws: Any) -> list[dict[str, Any]]:
    """Messages already on the socket, up to a ping's pong (the hub answers in order)."""
    await ws.send_str(json.dumps({"type": "ping", "id": 77}))
    out: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == WSMsgType.TEXT
        data = json.loads(msg.data)
        if data["type"] == "pong":
            return out
        out.append(data)


async def test_due_notice_reaches_assignee_once_and_survives_restart(w: World) -> None:
    await w.api.as_("agent1")
    mine = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "2099-06-01T10:00"}
    )
    team = await w.api.post(
        "/api/callbacks",
        {"phone": "+302101234567", "due_local": "2099-06-01T11:00", "assigned_user_id": None},
    )
    later = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "2099-09-01T10:00"}
    )
    notifier = w.client.app[CALLBACK_NOTIFIER]
    assert await notifier.next_due() == datetime(2099, 6, 1, 7, 0, tzinfo=UTC)
    await w.api.as_("agent2")
    async with w.client.ws_connect("/ws") as ws2:
        await recv(ws2, "hello")
        await w.api.as_("agent1")
        async with w.client.ws_connect("/ws") as ws1:
            await recv(ws1, "hello")
            sent = await notifier.notify_due(datetime(2099, 6, 2, tzinfo=UTC))
            assert sent == 2
            first = await recv(ws1, "callback_due")
            assert first["callback"]["id"] == mine["id"]
            second = await recv(ws1, "callback_due")
            assert second["callback"]["id"] == team["id"]
            # The team callback reaches the whole team, the personal one only its assignee.
            other = await recv(ws2, "callback_due")
            assert other["callback"]["id"] == team["id"]
            # Again, or from a restarted process: nothing is sent twice.
            assert await notifier.notify_due(datetime(2099, 6, 2, tzinfo=UTC)) == 0
            restarted = CallbackNotifier(
                w.client.app[SESSIONS],
                w.client.app[BUS],
                lambda row: CallbackOut.of(row).model_dump(mode="json"),
            )
            assert await restarted.notify_due(datetime(2099, 6, 2, tzinfo=UTC)) == 0
            assert await restarted.next_due() == datetime(2099, 9, 1, 7, 0, tzinfo=UTC)
            # What was not due then is due for the new process later: state is in the database.
            assert await restarted.notify_due(FAR) == 1
            assert (await recv(ws1, "callback_due"))["callback"]["id"] == later["id"]
            assert [m["type"] for m in await _drain_pushes(ws1)] == []
        assert [m["type"] for m in await _drain_pushes(ws2)] == []
    listed = {c["id"]: c for c in (await w.api.get("/api/callbacks"))["items"]}
    assert listed[mine["id"]]["notified_at"] is not None


async def test_cancelled_callbacks_are_not_notified(w: World) -> None:
    await w.api.as_("agent1")
    cb = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": "2099-06-01T10:00"}
    )
    await w.api.post(f"/api/callbacks/{cb['id']}/cancel", None, expect=200)
    assert await w.client.app[CALLBACK_NOTIFIER].notify_due(FAR) == 0
    assert await w.client.app[CALLBACK_NOTIFIER].next_due() is None
