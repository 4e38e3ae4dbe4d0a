"""Wiring of the agent console's backend: its API, the calls in progress it acts on, the pops it
updates, the follower that copies wrap-ups onto stored calls and the callback notifier."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.bus.fanout import SubscriptionClosed, SubscriptionGap
from crm_core.httpapi import ApiRegistry
from dialer import console_api
from dialer.callbacks import CallbackNotifier, CallbackService
from dialer.console import ConsoleService
from dialer.console_ports import LiveCall
from dialer.console_schemas import CallbackOut
from dialer.dispositions import DispositionService
from dialer.wrapup import CallAccess, apply_pending
from screenpop.dispatcher import PopDispatcher
from telephony.api import RUNTIMES
from telephony.events import CallEnded
from telephony.runtime import PbxRuntime
from telephony.store import agent_user_id
from web.screenpop_wiring import POPS

__all__ = ["CALLBACK_NOTIFIER", "LiveConsole", "console_ctx", "install"]

log = logging.getLogger(__name__)

CALLBACK_NOTIFIER = web.AppKey("callback_notifier", CallbackNotifier)


class LiveConsole:
    """Calls in progress from the PBX runtimes, and the open pops of the screen pop."""

    def __init__(self, runtimes: dict[str, PbxRuntime], pops: PopDispatcher | None) -> None:
        self._runtimes = runtimes
        self._pops = pops

    def find(self, call_id: str) -> LiveCall | None:
        """The call in progress with the agents on it (the PBX's view first, else the pops')."""
        pbx: str | None = None
        agents: set[int] = set()
        for runtime in self._runtimes.values():
            for call in runtime.snapshot().calls:
                if call.call_id != call_id:
                    continue
                pbx = runtime.name
                answered = any(leg.answered for leg in call.legs if leg.agent_id)
                # The answering agent and agents whose leg answered (a transfer); while nobody
                # has answered, the agents being rung. A leg rung in vain gives no rights.
                legs = [
                    leg.agent_id
                    for leg in call.legs
                    if leg.answered or (not answered and not leg.ended and not leg.cancelled)
                ]
                for agent in (call.agent_id, *legs):
                    uid = agent_user_id(agent)
                    if uid is not None:
                        agents.add(uid)
        holders = self._pops.holders(call_id) if self._pops is not None else {}
        if pbx is None and not holders:
            return None
        contacts: dict[int, tuple[str, int]] = {}
        for uid, pop in holders.items():
            if pbx is None:
                # Known only from its pops (no PBX runtime knows it): the agents it popped for.
                agents.add(uid)
            contact = pop.get("linked_contact") or pop.get("contact")
            if contact is not None:
                contacts[uid] = (str(contact["kind"]), int(contact["id"]))
        if pbx is None:
            pbx = next((str(p["call"].get("pbx")) for p in holders.values()), None)
        return LiveCall(call_id, pbx, frozenset(agents), contacts)

    async def link_contact(self, call_id: str, contact: dict[str, Any]) -> tuple[int, ...]:
        """Update the call's open pops."""
        if self._pops is None:
            return ()
        return await self._pops.link_contact(call_id, contact)


def install(app: web.Application, api: ApiRegistry) -> None:
    """Declare the console's endpoints."""
    console_api.register(api)


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build the console's services; follow ended calls and notify due callbacks."""
    settings = app[SETTINGS]
    sessions = app[SESSIONS]
    live = LiveConsole(app[RUNTIMES], app.get(POPS))
    access = CallAccess(sessions, live)
    notifier = CallbackNotifier(
        sessions, app[BUS], lambda row: CallbackOut.of(row).model_dump(mode="json")
    )
    callbacks = CallbackService(
        sessions,
        app[POLICIES],
        access,
        region=settings.default_region,
        timezone=settings.default_timezone,
        wake=notifier.wake,
    )
    dispositions = DispositionService(sessions, access)
    app[console_api.CONSOLE] = console_api.ConsoleServices(
        console=ConsoleService(
            sessions,
            app[POLICIES],
            access,
            live,
            dispositions,
            callbacks,
            timezone=settings.default_timezone,
            bus=app[BUS],
        ),
        dispositions=dispositions,
        callbacks=callbacks,
    )
    app[CALLBACK_NOTIFIER] = notifier
    bus = app[BUS]

    async def follow_calls() -> None:
        # The runtime stores a call before it publishes CallEnded: its wrap-up can follow now.
        async with bus.subscribe(CallEnded) as sub:
            while True:
                try:
                    event = await sub.get()
                except SubscriptionGap:
                    await apply_pending(sessions, bus=bus)
                    continue
                except SubscriptionClosed:
                    return
                if not isinstance(event, CallEnded):
                    continue
                try:
                    await apply_pending(sessions, event.call_id, bus=bus)
                except Exception:
                    log.exception(
                        "wrap-up of call %s not copied yet (the sweep retries)", event.call_id
                    )

    async def sweep() -> None:
        done = await apply_pending(sessions, bus=bus)
        if done:
            log.info("copied %d pending wrap-ups onto stored calls", done)

    supervisor = app[SUPERVISOR]
    supervisor.start("console-calls", follow_calls)
    supervisor.start("console-callbacks", lambda: notifier.run(also=sweep))
    yield
    await supervisor.cancel("console-callbacks")
    await supervisor.cancel("console-calls")
