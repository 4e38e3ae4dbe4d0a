"""My day: callbacks and tasks due today in my time zone, and today's celebrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from crm_core.appkeys import SESSIONS
from crm_core.db import session_scope
from crm_core.users.models import User
from tests.dialer.helpers import World


def _later_today(zone: ZoneInfo) -> str:
    """A local time later today (or a minute ago at midnight: still within the grace)."""
    now = datetime.now(zone)
    soon = now + timedelta(minutes=2)
    if soon.date() != now.date():
        soon = now.replace(hour=23, minute=59)
    return soon.strftime("%Y-%m-%dT%H:%M")


async def test_my_day(w: World) -> None:
    athens = ZoneInfo("Europe/Athens")
    today = datetime.now(athens).date()
    # A person celebrating today (birthdays follow the business time zone).
    await w.api.as_("admin")
    await w.api.patch(
        f"/api/persons/{w.persons['maria']}",
        {
            "birth_date": today.replace(
                year=1980 if (today.month, today.day) != (2, 29) else 1984
            ).isoformat()
        },
    )
    await w.api.as_("agent2")
    theirs = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": _later_today(athens)}
    )
    await w.api.as_("agent1")
    mine = await w.api.post(
        "/api/callbacks", {"phone": "+302101234567", "due_local": _later_today(athens)}
    )
    team = await w.api.post(
        "/api/callbacks",
        {
            "phone": "+302101234567",
            "due_local": _later_today(athens),
            "assigned_user_id": None,
        },
    )
    await w.api.post("/api/callbacks", {"phone": "+302101234567", "due_local": "2099-01-01T10:00"})
    now = datetime.now(UTC)
    task = await w.api.post(
        "/api/activities",
        {"type": "task", "subject": "Send the offer", "starts_at": now.isoformat()},
    )
    await w.api.post(
        "/api/activities",
        {"type": "task", "subject": "Done already", "starts_at": now.isoformat(), "status": "done"},
    )
    await w.api.post(
        "/api/activities",
        {
            "type": "task",
            "subject": "Next week",
            "starts_at": (now + timedelta(days=7)).isoformat(),
        },
    )
    await w.api.post(
        "/api/activities",
        {"type": "meeting", "subject": "Not a task", "starts_at": now.isoformat()},
    )
    due = await w.api.post(
        "/api/activities",
        {"type": "task", "subject": "Due by tonight", "ends_at": now.isoformat()},
    )
    day = await w.api.get("/api/me/today")
    assert day["time_zone"] == "Europe/Athens"
    assert day["day"] == datetime.now(athens).date().isoformat()
    assert {c["id"] for c in day["callbacks"]} == {mine["id"], team["id"]}
    assert theirs["id"] not in {c["id"] for c in day["callbacks"]}
    assert {t["id"] for t in day["tasks"]} == {task["id"], due["id"]}
    birthdays = [c for c in day["celebrations"] if c["kind"] == "birthday"]
    assert [c["person_id"] for c in birthdays] == [w.persons["maria"]]
    due_today = await w.api.get("/api/callbacks", due="today", mine="true")
    assert [c["id"] for c in due_today["items"]] == [mine["id"]]
    # My own time zone decides what "today" is.
    async with session_scope(w.client.app[SESSIONS]) as db:
        user = await db.get(User, w.users["agent1"])
        assert user is not None
        user.timezone = "Pacific/Kiritimati"
    day = await w.api.get("/api/me/today")
    assert day["time_zone"] == "Pacific/Kiritimati"
    assert day["day"] == datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    # Signed out: no day at all.
    w.client.session.cookie_jar.clear()
    resp = await w.client.get("/api/me/today")
    assert resp.status == 401
