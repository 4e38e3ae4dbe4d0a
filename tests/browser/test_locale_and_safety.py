"""The console per user language (Greek, Persian right-to-left) and CRM values that stay text."""

# ruff: noqa: RUF001  (Greek and Persian letters are meant)

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import XSS_NAME, Console, screenshot

pytestmark = [
    pytest.mark.timeout(180),
    # The page logic is the same on both databases; the end-to-end flows run on both.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


async def test_greek_user_gets_greek_labels_and_formats(console: Console, browser: Browser) -> None:
    await console.admin.patch(f"/api/users/{console.agent_id}", {"language": "el"})
    page, watch = await console.page(browser)
    await expect(page.locator("html")).to_have_attribute("lang", "el")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.get_by_role("heading", name="Η κατάστασή μου")).to_be_visible()
    await expect(page.get_by_role("button", name="Διαθέσιμος")).to_be_visible()
    await expect(page.get_by_label("Αιτία παύσης")).to_be_visible()
    await expect(page.locator("#ws-status")).to_have_text("Σε σύνδεση")
    await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    await expect(page.locator("#alert-region")).to_have_text("Εισερχόμενη κλήση από Maria Pappa")
    # Amounts in the Greek way: decimal comma, euro sign after the number.
    eur = page.locator('#pop .balances li[data-currency="EUR"] .amount')
    await expect(eur).to_have_text(re.compile(r"^120,00\s€$"))
    await expect(page.get_by_role("button", name="Αποθήκευση αποτελέσματος")).to_be_visible()
    await expect(page.locator("#disposition-form").get_by_label("Σημειώσεις")).to_be_visible()
    await screenshot(page, "console-greek")
    assert watch.errors == []


async def test_sign_in_page_follows_the_browser_language(
    console: Console, browser: Browser
) -> None:
    context = await browser.new_context(base_url=console.url, locale="el-GR")
    page = await context.new_page()
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", "el")
    await page.get_by_label("Όνομα χρήστη").fill("agent1")
    await page.get_by_label("Κωδικός πρόσβασης").fill("wrong-password")
    await page.get_by_role("button", name="Σύνδεση").click()
    await expect(page.locator("#login-error")).to_have_text("Λάθος όνομα χρήστη ή κωδικός.")
    await expect(page.get_by_label("Κωδικός πρόσβασης")).to_be_focused()
    await screenshot(page, "login-failed-greek")
    await context.close()


async def test_persian_user_gets_a_right_to_left_console(
    console: Console, browser: Browser
) -> None:
    await console.admin.patch(f"/api/users/{console.agent_id}", {"language": "fa"})
    page, watch = await console.page(browser)
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "fa")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(page.get_by_role("heading", name="وضعیت من")).to_be_visible()
    await console.sim.inbound_call("+302101234567", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text("Maria Pappa")
    # Mirrored layout: the brand sits at the right end, "my day" left of the call panel,
    # the pop's accent border on its right (inline-start) side.
    width = page.viewport_size["width"] if page.viewport_size else 1280
    brand = await page.locator(".brand").bounding_box()
    call = await page.locator("#call-section").bounding_box()
    today = await page.locator("#today").bounding_box()
    assert brand is not None
    assert call is not None
    assert today is not None
    assert brand["x"] > width / 2
    assert today["x"] < call["x"]
    border = await page.locator("#pop").evaluate("e => getComputedStyle(e).borderRightWidth")
    assert border == "4px"
    # Numbers in Persian digits, formatted by Intl for the fa locale.
    eur = page.locator('#pop .balances li[data-currency="EUR"] .amount')
    await expect(eur).to_have_text(re.compile("۱۲۰"))
    # Phone numbers stay left-to-right inside the right-to-left page.
    number = page.locator("#pop button.dial .number").first
    assert await number.evaluate("e => getComputedStyle(e).direction") == "ltr"
    await screenshot(page, "console-persian-rtl")
    assert watch.errors == []


async def test_a_name_with_markup_renders_as_inert_text(console: Console, browser: Browser) -> None:
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await console.sim.inbound_call("+302310555123", "support", 60)
    await expect(page.locator("#pop-name")).to_have_text(XSS_NAME)
    await expect(page.locator("#alert-region")).to_have_text(f"Incoming call from {XSS_NAME}")
    await expect(page.locator("#today-celebrations")).to_contain_text(XSS_NAME)
    assert await page.locator("img").count() == 0
    await screenshot(page, "xss-pop")
    await page.goto(f"/persons/{console.ids['evil']}")
    await expect(page.locator("#contact-name")).to_have_text(XSS_NAME)
    assert await page.title() == f"{XSS_NAME} · Callboard"
    assert await page.locator("img").count() == 0
    await page.goto("/search?q=" + "%3Cimg")
    await expect(page.locator("#search-results")).to_contain_text(XSS_NAME)
    # The query itself is put back into the search box as a value, not as markup.
    await expect(page.locator("#search-q")).to_have_value("<img")
    assert await page.locator("img").count() == 0
    await screenshot(page, "xss-search")
    assert watch.dialogs == []
    assert watch.errors == []


async def test_keyboard_skip_link_focus_outline_and_search(
    console: Console, browser: Browser
) -> None:
    page, watch = await console.page(browser)
    await expect(page.locator("#ws-status")).to_have_attribute("data-state", "live")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    style = "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
    assert await skip.evaluate(style) == ["solid", "3px"]
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    # Every form field of the console has a label.
    unlabeled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && e.labels.length === 0)
              .map(e => e.id || e.name)"""
    )
    assert unlabeled == []
    box = page.get_by_label("Search persons and companies (name, code, e-mail or phone)").first
    await box.focus()
    await page.keyboard.type("Pappa")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/search\?q=Pappa$"))
    await expect(page.locator("#search-results")).to_contain_text("Maria Pappa")
    # Tab reaches the first result's link and Enter opens the contact page.
    link = page.get_by_role("link", name="Maria Pappa")
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#contact-name")).to_have_text("Maria Pappa")
    assert watch.errors == []
