"""`callboard demo` as a newcomer meets it: sign in as agent1, get a pop from simulated traffic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import PageWatch, screenshot
from tests.cli_helpers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_demo_agent_gets_a_pop_from_the_simulated_traffic(
    tmp_path: Path, browser: Browser
) -> None:
    # About one call a second into the support and sales queues; agent1 (seat 1001) shares the
    # support calls with agent2, so a pop comes within seconds.
    with running_server(tmp_path, "--calls-per-minute", "60") as server:
        context = await browser.new_context(base_url=server.url)
        page = await context.new_page()
        watch = PageWatch()
        watch.attach(page)
        await page.goto("/")
        await page.wait_for_url(re.compile(r"/login"))
        await page.get_by_label("User name").fill("agent1")
        await page.get_by_label("Password").fill("demo")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r"/console$"))
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
        await expect(page.locator("#pop-name")).to_be_visible(timeout=120_000)
        await expect(page.locator("#pop button.dial").first).to_be_visible()
        await screenshot(page, "demo-console")
        await context.close()
        assert watch.errors == []
        assert watch.dialogs == []
        assert server.log_tail().count("unhandled error") == 0, server.log_tail()
