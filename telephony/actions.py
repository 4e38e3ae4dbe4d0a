"""The typed AMI actions, written once over ``send_action`` for every gateway (real or fake)."""

from __future__ import annotations

from collections.abc import Mapping

from telephony.ports import (
    ActionResult,
    BridgeInfo,
    ChannelInfo,
    OriginateSpec,
    QueueSummaryInfo,
    SpyMode,
)
from telephony.protocol import AmiMessage

__all__ = ["SPY_OPTIONS", "AmiActions"]

# ChanSpy options per mode: q = no beep to the spied channel, E = end when the spied channel
# hangs up, w = whisper (talk to the spied channel only), B = barge (talk to both parties).
SPY_OPTIONS: dict[SpyMode, str] = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}


class AmiActions:
    """Mixin: each action builds its headers and goes through the gateway's ``send_action``."""

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Send any action (implemented by the gateway)."""
        raise NotImplementedError

    async def originate(self, spec: OriginateSpec) -> ActionResult:
        """Queue an asynchronous Originate (its outcome arrives as OriginateResponse)."""
        headers: dict[str, str | list[str]] = {
            "Channel": spec.channel,
            "Timeout": str(int(spec.timeout_s * 1000)),
            "Async": "true",
        }
        if spec.application:
            headers["Application"] = spec.application
            headers["Data"] = spec.data or ""
        else:
            headers["Context"] = spec.context or ""
            headers["Exten"] = spec.exten or ""
            headers["Priority"] = str(spec.priority)
        if spec.caller_id:
            headers["CallerID"] = spec.caller_id
        if spec.account:
            headers["Account"] = spec.account
        if spec.action_id:
            headers["ActionID"] = spec.action_id
        if spec.variables:
            headers["Variable"] = [f"{k}={v}" for k, v in spec.variables.items()]
        return await self.send_action("Originate", headers)

    async def hangup(self, channel: str, cause: int = 16) -> ActionResult:
        """Hang up a channel."""
        return await self.send_action("Hangup", {"Channel": channel, "Cause": str(cause)})

    async def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Send a channel to another dialplan location (blind transfer)."""
        headers = {"Channel": channel, "Context": context, "Exten": exten}
        return await self.send_action("Redirect", {**headers, "Priority": str(priority)})

    async def queue_add(
        self, queue: str, interface: str, *, member_name: str | None = None, penalty: int = 0
    ) -> ActionResult:
        """Add a member to a queue (works around panoramisk's never-resolving QueueAdd)."""
        headers = {"Queue": queue, "Interface": interface, "Penalty": str(penalty)}
        if member_name:
            headers["MemberName"] = member_name
        return await self.send_action("QueueAdd", headers)

    async def queue_remove(self, queue: str, interface: str) -> ActionResult:
        """Remove a member from a queue."""
        return await self.send_action("QueueRemove", {"Queue": queue, "Interface": interface})

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> ActionResult:
        """Pause or unpause a queue member (in one queue, or all)."""
        headers = {"Interface": interface, "Paused": "true" if paused else "false"}
        if queue:
            headers["Queue"] = queue
        if reason:
            headers["Reason"] = reason
        return await self.send_action("QueuePause", headers)

    async def queue_status(self, queue: str | None = None) -> tuple[AmiMessage, ...]:
        """Return QueueParams/QueueMember/QueueEntry events."""
        headers = {"Queue": queue} if queue else {}
        return (await self.send_action("QueueStatus", headers, listing=True)).items

    async def status(self) -> tuple[AmiMessage, ...]:
        """Return one CoreShowChannel event per live channel."""
        return (await self.send_action("CoreShowChannels", listing=True)).items

    async def setvar(self, channel: str, variable: str, value: str) -> ActionResult:
        """Set a channel variable."""
        headers = {"Channel": channel, "Variable": variable, "Value": value}
        return await self.send_action("Setvar", headers)

    async def getvar(self, channel: str, variable: str) -> str:
        """Return a channel variable's value."""
        result = await self.send_action("Getvar", {"Channel": channel, "Variable": variable})
        return result.response.get("Value") or ""

    async def mixmonitor(self, channel: str, file: str, options: str = "b") -> ActionResult:
        """Start recording a channel (``b``: only while bridged) into ``file``."""
        return await self.send_action(
            "MixMonitor", {"Channel": channel, "File": file, "Options": options}
        )

    async def stop_mixmonitor(self, channel: str) -> ActionResult:
        """Stop recording a channel."""
        return await self.send_action("StopMixMonitor", {"Channel": channel})

    async def ping(self) -> ActionResult:
        """Ping the PBX."""
        return await self.send_action("Ping")

    async def atxfer(self, channel: str, context: str, exten: str) -> ActionResult:
        """Start an attended transfer: ``channel`` (the transferer) calls ``exten@context``."""
        return await self.send_action(
            "Atxfer", {"Channel": channel, "Exten": exten, "Context": context}
        )

    async def mixmonitor_mute(
        self, channel: str, muted: bool, *, direction: str = "both"
    ) -> ActionResult:
        """Pause (``muted``) or resume a running recording, e.g. during payment capture."""
        headers = {"Channel": channel, "Direction": direction, "State": "1" if muted else "0"}
        return await self.send_action("MixMonitorMute", headers)

    async def play_dtmf(self, channel: str, digit: str, *, duration_ms: int = 0) -> ActionResult:
        """Play one DTMF digit on a channel."""
        headers = {"Channel": channel, "Digit": digit}
        if duration_ms:
            headers["Duration"] = str(duration_ms)
        return await self.send_action("PlayDTMF", headers)

    async def user_event(self, name: str, headers: Mapping[str, str] | None = None) -> ActionResult:
        """Broadcast ``Event: UserEvent`` with ``UserEvent: name`` and the given headers."""
        return await self.send_action("UserEvent", {"UserEvent": name, **(headers or {})})

    async def chanspy(
        self,
        supervisor_interface: str,
        spied_channel: str,
        mode: SpyMode,
        *,
        caller_id: str | None = None,
        timeout_s: float = 30.0,
        variables: Mapping[str, str] | None = None,
    ) -> ActionResult:
        """Ring the supervisor's phone, then spy on ``spied_channel`` (listen/whisper/barge)."""
        return await self.originate(
            OriginateSpec(
                channel=supervisor_interface,
                application="ChanSpy",
                data=f"{spied_channel},{SPY_OPTIONS[mode]}",
                caller_id=caller_id,
                timeout_s=timeout_s,
                variables=dict(variables or {}),
            )
        )

    async def core_show_channels(self) -> tuple[ChannelInfo, ...]:
        """Every live channel, typed."""
        items = (await self.send_action("CoreShowChannels", listing=True)).items
        return tuple(ChannelInfo.from_message(m) for m in items if m.event == "CoreShowChannel")

    async def bridge_list(self, bridge_type: str | None = None) -> tuple[BridgeInfo, ...]:
        """Every bridge (optionally of one type), typed."""
        headers = {"BridgeType": bridge_type} if bridge_type else {}
        items = (await self.send_action("BridgeList", headers, listing=True)).items
        return tuple(BridgeInfo.from_message(m) for m in items if m.event == "BridgeListItem")

    async def queue_penalty(
        self, interface: str, penalty: int, *, queue: str | None = None
    ) -> ActionResult:
        """Change a member's penalty (in one queue, or all)."""
        headers = {"Interface": interface, "Penalty": str(penalty)}
        if queue:
            headers["Queue"] = queue
        return await self.send_action("QueuePenalty", headers)

    async def queue_summary(self, queue: str | None = None) -> tuple[QueueSummaryInfo, ...]:
        """Per-queue counters (logged in, available, callers), typed."""
        headers = {"Queue": queue} if queue else {}
        items = (await self.send_action("QueueSummary", headers, listing=True)).items
        return tuple(QueueSummaryInfo.from_message(m) for m in items if m.event == "QueueSummary")
