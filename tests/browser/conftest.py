"""Browser-test fixtures: Debian's Chromium driven by Playwright, the app and the PBX simulator.

The application runs in the test's event loop on a real TCP port (aiohttp's test server), wired
as in `callboard demo`: a PBX simulator over AMI, agent1 at the simulator's seat 1001 (a member of
the support queue, answers at once). Playwright's async API shares the same loop, so a test can
ring the agent through the simulator and watch the page react. Screenshots go to
``test-artifacts/screenshots/`` (or ``$CALLBOARD_TEST_ARTIFACTS/screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from crm_core.appkeys import SESSIONS
from crm_core.db import session_scope
from telephony.api import RUNTIMES
from telephony.ports import GatewayStatus
from telephony.records import AgentPhone
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import SCREENSHOTS, AppMaker, add_user
from tests.crm.helpers import Api, born_today, seed_debtor

PASSWORD = "pw-" + "x" * 8
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The simulator runs 20 times faster than real time (rings and talk times shrink).
SIM_SPEED = 20.0


def chromium_path() -> str:
    """Debian's Chromium (scripts/setup-env installs it); $CHROMIUM overrides."""
    for cand in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if cand and (found := shutil.which(cand)):
            return found
    pytest.fail(
        "Chromium is not installed: run scripts/setup-env dev (it installs Debian's chromium)"
    )


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # One file per database variant: test_x[postgres] saves NAME-postgres.png.
    variant = re.search(r"\[([^\]]+)\]", os.environ.get("PYTEST_CURRENT_TEST", ""))
    if variant:
        name = f"{name}-{variant.group(1)}"
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


@dataclass
class PageWatch:
    """What went wrong in the page: uncaught errors, CSP violations, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Listen on ``page``; dialogs are recorded and dismissed."""
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )

        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for one test."""
    executable = chromium_path()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    """The PBX simulator over TCP."""
    simulator = await start_simulator("127.0.0.1", 0, speed=SIM_SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


@dataclass
class Console:
    """The running app, its simulator and the demo-like data of a browser test."""

    client: TestClient[Any, Any]
    sim: PbxSimulator
    url: str
    agent_id: int
    ids: dict[str, int]
    admin: Api

    async def page(
        self, browser: Browser, username: str = "agent1", **ctx: Any
    ) -> tuple[Page, PageWatch]:
        """A new browser page signed in as ``username`` through the sign-in form."""
        context: BrowserContext = await browser.new_context(
            base_url=self.url, viewport={"width": 1280, "height": 1000}, **ctx
        )
        context.set_default_timeout(15_000)
        page = await context.new_page()
        watch = PageWatch()
        watch.attach(page)
        await page.goto("/console")
        # Not signed in: the console sends us to the sign-in page.
        await page.wait_for_url(re.compile(r"/login\?next="))
        await page.locator("#username").fill(username)
        await page.locator("#password").fill(PASSWORD)
        await page.locator("#login-form button[type=submit]").click()
        await page.wait_for_url(re.compile(r"/console$"))
        return page, watch


async def _crm(api: Api, xss_name: str) -> dict[str, int]:
    ids = await seed_debtor(
        api,
        phones=[
            {"kind": "mobile", "number": "+30 210 123 4567"},
            {"kind": "work", "number": "+30 210 000 0002"},
        ],
    )
    evil = await api.post(
        "/api/persons",
        {
            "family_name": xss_name,
            # Born today: the name also shows in "my day" among today's celebrations.
            "birth_date": born_today("Europe/Athens"),
            "territory_id": ids["territory"],
            "phones": [{"kind": "mobile", "number": "+30 231 055 5123"}],
        },
    )
    return {**ids, "evil": evil["id"]}


XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def console(make_client: AppMaker, sim: PbxSimulator) -> Console:
    """The app with the simulator, users admin/agent1/agent2/sup and a CRM to pop from."""
    boot = await make_client(default_region="GR", default_timezone="Europe/Athens")
    # A plain agent: the crm.balances right (agents have it) shows invoices and debt.
    agent = await add_user(boot, "agent1", "agent", teams=("Support",))
    await add_user(boot, "agent2", "agent", teams=("Support",))
    await add_user(boot, "admin", "admin")
    async with session_scope(boot.app[SESSIONS]) as db:
        db.add(
            AgentPhone(user_id=agent.id, pbx="sim", interface="Local/1001@agents", queues="support")
        )
    admin = Api(boot)
    await admin.as_("admin")
    ids = await _crm(admin, XSS_NAME)
    await boot.close()
    client = await make_client(
        default_region="GR",
        default_timezone="Europe/Athens",
        pbx=[
            {
                "name": "sim",
                "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}",
                "context": "customers",
            }
        ],
    )
    async with asyncio.timeout(20):
        await client.app[RUNTIMES]["sim"].gateway.wait_status(GatewayStatus.CONNECTED)
    # Every support call goes to agent1's seat 1001: the other member, 1002, is paused.
    await client.app[RUNTIMES]["sim"].gateway.queue_pause(
        "Local/1002@agents", True, queue="support", reason="browser test"
    )
    admin = Api(client)
    await admin.as_("admin")
    url = str(client.make_url("/"))
    return Console(client=client, sim=sim, url=url, agent_id=agent.id, ids=ids, admin=admin)
