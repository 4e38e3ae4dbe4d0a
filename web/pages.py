"""Server-rendered browser pages: sign-in, the agent console, search and contact pages.

The pages are Jinja2 templates with autoescaping on; they carry the shell, the user's language,
direction, time zone and CSRF token, and the message catalog as JSON. The ES modules in
``web/static/js`` fill in CRM data through the JSON API and the WebSocket, always as text (DOM
APIs, never ``innerHTML``), so a value such as ``<img src=x onerror=...>`` shows as written.
Static files are served from ``web/static`` by one handler (no build step, nothing from a CDN).
Every route is declared in the endpoint registry, so /api/openapi.json lists the pages too.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from crm_core.appkeys import SETTINGS, USERS
from crm_core.httpapi import PRINCIPAL, ApiRegistry
from crm_core.users.permissions import Principal
from web.i18n import LANGUAGES, Catalog, catalog_for

__all__ = ["JINJA", "STATIC_DIR", "install"]

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
JINJA = web.AppKey("jinja", jinja2.Environment)
HTML = ("text/html",)
STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
_LANG_RE = re.compile(r"([a-zA-Z]{2,3})(?:-[a-zA-Z0-9]+)?\s*(?:;\s*q\s*=\s*([0-9.]+))?")


def environment() -> jinja2.Environment:
    """The template environment: autoescaping always on, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def browser_language(header: str) -> str:
    """The best language of an ``Accept-Language`` header that has a catalog; else English."""
    best, best_q = "en", -1.0
    for part in header.split(",")[:20]:
        match = _LANG_RE.fullmatch(part.strip())
        if match is None:
            continue
        code = match.group(1).lower()
        try:
            q = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def _render(request: web.Request, template: str, catalog: Catalog, **context: Any) -> web.Response:
    env = request.app[JINJA]
    html = env.get_template(template).render(
        t=catalog.gettext,
        lang=catalog.language,
        dir=catalog.direction,
        messages=dict(catalog.messages),
        **context,
    )
    resp = web.Response(text=html, content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _signed_in(request: web.Request) -> Principal | None:
    p = request.get(PRINCIPAL)
    return p if isinstance(p, Principal) else None


def _to_login(request: web.Request) -> web.Response:
    target = request.path_qs if request.path != "/" else "/console"
    return web.Response(status=303, headers={"Location": "/login?" + urlencode({"next": target})})


async def _page(request: web.Request, template: str, page: str, **context: Any) -> web.Response:
    p = _signed_in(request)
    if p is None:
        return _to_login(request)
    user = await request.app[USERS].me(p)
    catalog = catalog_for(user.language)
    settings = request.app[SETTINGS]
    return _render(
        request,
        template,
        catalog,
        page=page,
        user=user,
        csrf_token=p.csrf_token or "",
        time_zone=user.timezone or settings.default_timezone,
        **context,
    )


async def page_index(request: web.Request) -> web.Response:
    """The start page: the console when signed in, else the sign-in page."""
    target = "/console" if _signed_in(request) is not None else "/login"
    return web.Response(status=303, headers={"Location": target})


async def page_login(request: web.Request) -> web.Response:
    """The sign-in page (in the browser's language)."""
    if _signed_in(request) is not None:
        return web.Response(status=303, headers={"Location": "/console"})
    catalog = catalog_for(browser_language(request.headers.get("Accept-Language", "")))
    raw_next = request.query.get("next", "")
    # Only a path of this site: never "//host" or "https://...".
    safe_next = (
        raw_next
        if raw_next.startswith("/") and not raw_next.startswith("//") and "\\" not in raw_next
        else "/console"
    )
    return _render(request, "login.html", catalog, page="login", next_url=safe_next[:500])


async def page_console(request: web.Request) -> web.Response:
    """The agent console: status, the live call with its screen pop, my day."""
    return await _page(request, "console.html", "console")


async def page_search(request: web.Request) -> web.Response:
    """Search persons and companies by name, code, e-mail or phone."""
    return await _page(request, "search.html", "search", query=request.query.get("q", "")[:200])


async def page_person(request: web.Request) -> web.Response:
    """A person's page with phones (click-to-dial) and timeline."""
    return await _page(
        request, "contact.html", "contact", kind="person", record_id=request.match_info["id"]
    )


async def page_company(request: web.Request) -> web.Response:
    """A company's page with phones (click-to-dial) and timeline."""
    return await _page(
        request, "contact.html", "contact", kind="company", record_id=request.match_info["id"]
    )


async def static_file(request: web.Request) -> web.StreamResponse:
    """A file of ``web/static`` (scripts, styles); nothing outside that folder."""
    rel = request.match_info["path"]
    try:
        path = (STATIC_DIR / rel).resolve()
        found = (
            path.suffix in STATIC_TYPES
            and path.is_relative_to(STATIC_DIR)
            and not any(part.startswith(".") for part in Path(rel).parts)
            and path.is_file()
        )
    except (ValueError, OSError):  # a NUL byte, a name too long ...
        found = False
    if not found:
        raise web.HTTPNotFound()
    ctype = STATIC_TYPES[path.suffix]
    resp = web.FileResponse(path, headers={"Content-Type": ctype, "Cache-Control": "no-cache"})
    return resp


def install(app: web.Application, api: ApiRegistry) -> None:
    """Declare the page routes and the static-file route; set up the template environment."""
    app[JINJA] = environment()
    common: dict[str, Any] = {"tag": "pages", "auth": "public", "media_types": HTML}
    api.route("GET", "/", summary="Start page (redirects)", status=303, **common)(page_index)
    api.route("GET", "/login", summary="Sign-in page", **common)(page_login)
    api.route("GET", "/console", summary="Agent console page", **common)(page_console)
    api.route(
        "GET",
        "/search",
        summary="Search page",
        extra_query={"q": "the search text"},
        **common,
    )(page_search)
    api.route("GET", r"/persons/{id:\d+}", summary="A person's page", errors=(404,), **common)(
        page_person
    )
    api.route("GET", r"/companies/{id:\d+}", summary="A company's page", errors=(404,), **common)(
        page_company
    )
    api.route(
        "GET",
        "/static/{path:.+}",
        summary="Scripts and styles of the pages",
        tag="pages",
        auth="public",
        media_types=tuple(sorted(set(STATIC_TYPES.values()))),
        errors=(404,),
    )(static_file)
