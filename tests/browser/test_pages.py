"""The page routes over HTTP (no browser): sign-in redirects, escaping, static files, catalogs."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.appkeys import SESSIONS
from crm_core.db import session_scope
from crm_core.users.models import User
from tests.conftest import add_user, login
from web.i18n import LANGUAGES, LOCALES_DIR, catalog_for
from web.middleware import SECURITY_HEADERS
from web.pages import browser_language


async def test_pages_send_strangers_to_sign_in(client: TestClient[Any, Any]) -> None:
    for path in ("/console", "/search?q=x", "/persons/1", "/companies/2"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/login?next=%2F"), resp.headers["Location"]
    resp = await client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == "/login"
    resp = await client.get("/login?next=//evil.example/x")
    text = await resp.text()
    assert resp.status == 200
    assert 'data-next="/console"' in text
    assert resp.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


async def test_console_shell_escapes_the_user_and_carries_the_csrf_token(
    client: TestClient[Any, Any],
) -> None:
    user = await add_user(client, "agent1", "agent")
    async with session_scope(client.app[SESSIONS]) as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.display_name = '<script>alert("x")</script>'
        row.language = "fa"
    body = await login(client, "agent1")
    resp = await client.get("/console")
    html = await resp.text()
    assert resp.status == 200
    assert '<html lang="fa" dir="rtl">' in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert f'<meta name="csrf-token" content="{body["csrf_token"]}">' in html
    # No inline script: only the module file and the JSON catalog (not executed).
    scripts = re.findall(r"<script([^>]*)>", html)
    assert sorted(scripts) == [
        ' type="application/json" id="cb-messages"',
        ' type="module" src="/static/js/console.js"',
    ]
    resp = await client.get("/login", allow_redirects=False)
    assert resp.headers["Location"] == "/console"


async def test_static_files_and_nothing_else(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/static/js/console.js")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/javascript")
    assert "innerHTML" not in await resp.text()
    resp = await client.get("/static/css/console.css")
    assert resp.headers["Content-Type"].startswith("text/css")
    for path in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/js/nope.js"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"]


def test_no_script_builds_html_from_strings() -> None:
    for path in (LOCALES_DIR.parent / "static" / "js").glob("*.js"):
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("//")
        )
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert banned not in code, (path.name, banned)


def test_catalogs_are_complete_and_greek_and_persian_exist() -> None:
    english = json.loads((LOCALES_DIR / "en.json").read_text())
    assert set(LANGUAGES) >= {"en", "el", "fa"}
    placeholders = re.compile(r"\{(\w+)\}")
    for lang in LANGUAGES:
        catalog = json.loads((LOCALES_DIR / f"{lang}.json").read_text())
        assert set(catalog) == set(english), lang
        for key, text in catalog.items():
            assert set(placeholders.findall(text)) == set(placeholders.findall(english[key])), (
                lang,
                key,
            )
    assert catalog_for("fa").direction == "rtl"
    assert catalog_for("el-GR").gettext("status.ready") == "Διαθέσιμος"
    assert catalog_for("hu").language == "en"
    assert catalog_for("el").gettext("dial.button", number="+30 1") == "Κλήση +30 1"


def test_browser_language() -> None:
    assert browser_language("el-GR,el;q=0.9,en;q=0.8") == "el"
    assert browser_language("de-DE, fa;q=0.5, en;q=0.4") == "fa"
    assert browser_language("") == "en"
    assert browser_language("xx;q=abc") == "en"
