"""The agent console in a real browser: pop, call control, click-to-dial, disposition, callback."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from crm_core.appkeys import BUS
from crm_core.crm import search
from crm_core.push import push_to_users
from telephony.events import AgentStateChanged, CallEnded, CallRinging
from telephony.models import AgentState, CallDirection
from telephony.store import agent_user_id
from tests.browser.conftest import Console, screenshot

pytestmark = pytest.mark.timeout(180)


async def test_pop_shows_invoice_and_debt_then_the_call_in_the_timeline(
    console: Console, browser: Browser
) -> None:
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#no-call")).to_be_visible()
    await console.sim.inbound_call("+302101234567", "support", 60)
    pop = page.locator("#pop")
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    # The incoming pop is announced to screen readers.
    await expect(page.locator("#alert-region")).to_have_text("Incoming call from Maria Pappa")
    await expect(pop).to_contain_text("Acme <b>Hellas</b>")
    await expect(pop).to_contain_text("Dear Ms Pappa")
    await expect(pop.locator(".invoice")).to_have_text(re.compile(r"^A-2 of .*RON\s?900\.00"))
    eur = pop.locator('.balances li[data-currency="EUR"]')
    await expect(eur.locator(".amount")).to_have_text("€120.00")
    await expect(eur.locator(".overdue")).to_have_text(re.compile(r"^(29|30|31) days overdue"))
    ron = pop.locator('.balances li[data-currency="RON"]')
    await expect(ron.locator(".amount")).to_have_text(re.compile(r"RON\s900\.00"))
    await expect(pop.locator(".tickets")).to_contain_text("Broken delivery")
    await expect(pop.locator(".last-activity")).to_contain_text("Payment plan")
    await expect(pop.locator(".last-activity")).to_contain_text("Will pay in May")
    # Every phone number shown can be dialled.
    await expect(pop.locator('button.dial[data-dial="+30 210 000 0002"]')).to_be_visible()
    await expect(page.locator("#call-state")).to_have_text("answered")
    await expect(page.locator("#timeline")).to_contain_text("Payment plan")
    await screenshot(page, "console-pop")
    await page.locator("#hangup").click()
    await expect(page.locator("#control-feedback")).to_have_text("Hang-up sent")
    await expect(page.locator("#call-state")).to_have_text("ended")
    # The finished call is on the contact's timeline.
    await expect(page.locator("#timeline")).to_contain_text("Inbound call via support: answered")
    await screenshot(page, "console-call-ended")
    assert watch.errors == []
    assert watch.dialogs == []


async def test_click_to_dial_from_the_contact_page_rings_the_agent(
    console: Console, browser: Browser
) -> None:
    page, watch = await console.page(browser)
    await page.goto("/search?q=Pappa")
    result = page.locator(
        f'#search-results li[data-kind="person"][data-id="{console.ids["person"]}"]'
    )
    await expect(result.get_by_role("link", name="Maria Pappa")).to_be_visible()
    await expect(result.locator("button.dial")).to_have_count(2)
    await screenshot(page, "search-results")
    await result.get_by_role("link", name="Maria Pappa").click()
    await expect(page.locator("#contact-name")).to_have_text("Maria Pappa")
    dial = page.get_by_role("button", name="Call +30 210 000 0002")
    bus = console.client.app[BUS]
    async with bus.subscribe(CallRinging, CallEnded) as sub:
        await dial.click()
        await expect(page.locator("#page-error")).to_have_text(
            "Calling +30 210 000 0002: your phone rings first"
        )
        # The agent's phone rang on the simulator, then the call ended (the customer hangs up).
        rang = False
        async with asyncio.timeout(30):
            while True:
                event = await sub.get()
                if agent_user_id(event.agent_id) != console.agent_id:
                    continue
                if isinstance(event, CallRinging):
                    rang = True
                elif rang:
                    break
    assert event.direction is CallDirection.OUTBOUND
    await page.reload()
    await expect(page.locator("#timeline")).to_contain_text("Outbound call: answered")
    await screenshot(page, "contact-page")
    assert watch.errors == []


async def test_disposition_callback_ticket_and_follow_up_from_the_call(
    console: Console, browser: Browser
) -> None:
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    call_id = await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    await expect(page.locator("#call-state")).to_have_text("answered")
    await page.locator("#hangup").click()
    await expect(page.locator("#call-state")).to_have_text("ended")

    form = page.locator("#disposition-form")
    await form.get_by_label("Outcome").select_option("RESOLVED")
    await form.get_by_label("Notes").fill("Explained the late delivery")
    await form.get_by_role("button", name="Save disposition").click()
    await expect(form.locator(".feedback")).to_have_text("Disposition saved: Request resolved")

    athens = ZoneInfo("Europe/Athens")
    day = (datetime.now(UTC).astimezone(athens) + timedelta(days=2)).date().isoformat()
    form = page.locator("#callback-form")
    await form.get_by_label("Date").fill(day)
    await form.get_by_label("Time", exact=True).fill("10:30")
    await expect(form.get_by_label("Phone number")).to_have_value("+302101234567")
    await form.get_by_label("Me", exact=True).check()
    await form.get_by_label("Notes").fill("Confirm the new delivery date")
    await form.get_by_role("button", name="Schedule callback").click()
    await expect(form.locator(".feedback")).to_contain_text(
        "Callback scheduled for", timeout=15_000
    )
    await expect(form.locator(".feedback")).to_contain_text("(Europe/Athens)")
    # A callback due now: the console is told at once (pushed, not polled).
    now = datetime.now(UTC).astimezone(athens)
    await form.get_by_label("Date").fill(now.date().isoformat())
    await form.get_by_label("Time", exact=True).fill(now.strftime("%H:%M"))
    await form.get_by_role("button", name="Schedule callback").click()
    await expect(page.locator("#alert-region")).to_have_text("Callback due now: +302101234567")
    due = page.locator("#today-callbacks li.callback.due")
    await expect(due).to_have_count(1)
    await expect(due.locator("button.dial")).to_contain_text("+302101234567")

    form = page.locator("#ticket-form")
    await form.get_by_label("Subject").fill("Redeliver the parcel")
    await form.get_by_label("Priority").select_option("high")
    await form.get_by_role("button", name="Create ticket").click()
    await expect(form.locator(".feedback")).to_have_text(re.compile(r"^Ticket \d+ created$"))
    await expect(page.locator("#timeline")).to_contain_text("Redeliver the parcel")

    form = page.locator("#followup-form")
    await form.get_by_label("Type").select_option("task")
    await form.get_by_label("Subject").fill("Check the courier's answer")
    await form.get_by_role("button", name="Create activity").click()
    await expect(form.locator(".feedback")).to_have_text("Activity created")
    await screenshot(page, "console-wrap-up-forms")

    # What the browser did is stored: the callback in the contact's time zone, the disposition.
    callbacks = await console.admin.get("/api/callbacks", status="scheduled")
    mine = [c for c in callbacks["items"] if c["call_id"] == call_id]
    assert len(mine) == 2, callbacks
    mine.sort(key=lambda c: c["due_at"], reverse=True)
    assert mine[0]["due_local"].startswith(f"{day}T10:30")
    assert mine[0]["time_zone"] == "Europe/Athens"
    assert mine[0]["assigned_user_id"] == console.agent_id
    assert mine[0]["person_id"] == console.ids["person"]
    calls = await console.admin.get("/api/calls")
    record = next(c for c in calls["items"] if c["call_id"] == call_id)
    assert record.get("disposition_code") == "RESOLVED", record
    assert watch.errors == []


async def test_candidates_and_unknown_caller(console: Console, browser: Browser) -> None:
    await console.admin.post(
        "/api/persons",
        {
            "family_name": "Pappas",
            "territory_id": console.ids["territory"],
            "phones": [{"kind": "home", "number": "+30 210 123 4567"}],
        },
    )
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await console.sim.inbound_call("+302101234567", "support", 60)
    candidates = page.locator("#candidates")
    await expect(candidates).to_be_visible()
    await expect(candidates.locator("button.candidate")).to_have_count(2)
    await screenshot(page, "console-candidates")
    await candidates.get_by_role("button", name="This is the caller: Maria Pappa").click()
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    await expect(candidates).to_be_hidden()
    # The pop is rebuilt for the chosen record: her invoice and debt, not just her name.
    await expect(page.locator("#pop .invoice")).to_have_text(re.compile(r"^A-2 of "))
    await page.locator("#hangup").click()
    await expect(page.locator("#call-state")).to_have_text("ended")

    await console.sim.inbound_call("+302109999990", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text("unknown caller +302109999990")
    form = page.locator("#new-contact-form")
    await expect(form).to_be_visible()
    await expect(form.get_by_label("Phone number")).to_have_value("+302109999990")
    await form.get_by_label("Family name").fill("Newman")
    await form.get_by_role("button", name="Create contact").click()
    await expect(form.locator(".feedback")).to_have_text("Contact Newman created")
    await expect(page.locator("#pop-name")).to_have_text("Newman")
    await screenshot(page, "console-new-contact")
    assert watch.errors == []


async def test_recording_pause_resume_and_transfer(console: Console, browser: Browser) -> None:
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#call-state")).to_have_text("answered")
    feedback = page.locator("#control-feedback")
    await page.get_by_role("button", name="Start recording").click()
    await expect(feedback).to_have_text("Recording started")
    await page.get_by_role("button", name="Pause recording").click()
    await expect(feedback).to_have_text("Recording paused")
    await page.get_by_role("button", name="Resume recording").click()
    await expect(feedback).to_have_text("Recording resumed")
    form = page.locator("#transfer-form")
    await form.get_by_label("Transfer to").select_option("queue")
    await form.get_by_label("Queue, agent or number").fill("sales")
    await form.get_by_label("Blind").check()
    await form.get_by_role("button", name="Transfer").click()
    await expect(form.locator(".feedback")).to_have_text("Transfer started")
    await screenshot(page, "console-transfer")
    assert watch.errors == []


async def test_status_control(console: Console, browser: Browser) -> None:
    page, watch = await console.page(browser)
    state = page.locator("#agent-state")
    await expect(state).to_have_text("Status: Ready")
    bus = console.client.app[BUS]
    async with bus.subscribe(AgentStateChanged) as sub:
        await page.get_by_label("Pause reason").select_option("lunch")
        await page.get_by_role("button", name="Pause", exact=True).click()
        await expect(state).to_have_text("Status: Paused (Lunch)")
        async with asyncio.timeout(20):
            while True:
                event = await sub.get()
                if agent_user_id(event.agent_id) == console.agent_id:
                    break
        assert event.state is AgentState.PAUSED
        assert event.reason == "lunch"
        await page.get_by_role("button", name="Ready").click()
        await expect(state).to_have_text("Status: Ready")
        async with asyncio.timeout(20):
            while True:
                event = await sub.get()
                if agent_user_id(event.agent_id) == console.agent_id:
                    break
        assert event.state is AgentState.READY
    await page.get_by_role("button", name="Wrap-up").click()
    await expect(state).to_have_text("Status: Wrap-up")
    await page.get_by_role("button", name="Log out of my queues").click()
    await expect(state).to_have_text("Status: Logged out")
    await expect(page.locator("#status-feedback")).to_have_text("Status changed: Logged out")
    await screenshot(page, "console-status")
    assert watch.errors == []


async def test_console_reconnects_and_gets_the_open_call_again(
    console: Console, browser: Browser
) -> None:
    page, watch = await console.page(browser)
    status = page.locator("#ws-status")
    await expect(status).to_have_attribute("data-connects", "1")
    await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#call-state")).to_have_text("answered")
    # Pushes were lost (as after a Redis outage): the console reconnects by itself and the
    # snapshot brings the call in progress back.
    await push_to_users(console.client.app[BUS], (console.agent_id,), {"type": "resync"})
    await expect(status).to_have_attribute("data-connects", "2")
    await expect(status).to_have_attribute("data-state", "live")
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    await expect(page.locator("#call-state")).to_have_text("answered")
    await page.locator("#hangup").click()
    await expect(page.locator("#call-state")).to_have_text("ended")
    assert watch.errors == []


async def test_state_changed_elsewhere_is_pushed_to_the_console(
    console: Console, browser: Browser
) -> None:
    # A plain agent reads their own state when the console opens, and a change made elsewhere
    # (the administrator pauses them) reaches the console as `agent_state_changed`.
    page, watch = await console.page(browser)
    state = page.locator("#agent-state")
    await expect(state).to_have_text("Status: Ready")
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await console.admin.post(
        f"/api/agents/{console.agent_id}/state", {"action": "pause", "reason": "lunch"}, 200
    )
    await expect(state).to_have_text("Status: Paused (Lunch)")
    await console.admin.post(f"/api/agents/{console.agent_id}/state", {"action": "ready"}, 200)
    await expect(state).to_have_text("Status: Ready")
    await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    await screenshot(page, "console-plain-agent")
    assert watch.errors == []


async def test_search_asks_to_refine_when_more_persons_match_than_were_examined(
    console: Console, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common name matches more persons than the search examines: the page says so."""
    await console.admin.post(
        "/api/persons",
        {
            "given_name": "Nikos",
            "family_name": "Pappas",
            "territory_id": console.ids["territory"],
        },
    )
    monkeypatch.setattr(search, "SEARCH_CANDIDATES", 1)
    page, watch = await console.page(browser)
    await page.goto("/search?q=Papp")
    await expect(page.locator("#search-count")).to_have_text(
        "Results: 1 · More persons match than are shown: refine the search"
    )
    await expect(page.locator("#search-results li.result")).to_have_count(1)
    await screenshot(page, "search-refine")
    monkeypatch.setattr(search, "SEARCH_CANDIDATES", 200)
    await page.goto("/search?q=Papp")
    await expect(page.locator("#search-count")).to_have_text("Results: 2")
    await expect(page.locator("#search-results li.result")).to_have_count(2)
    assert watch.errors == []
