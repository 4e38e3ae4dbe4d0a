"""The simulated parties of the reference dialplan: agent seats, PSTN numbers, fax machines."""

from __future__ import annotations

import asyncio
import contextlib

from telephony.sim.engine import Chan, Pbx
from telephony.sim.legs import Leg

__all__ = ["fax", "fax_result", "pstn", "seat"]


async def seat(pbx: Pbx, leg: Leg, exten: str) -> None:
    """Run an agent seat: 100x answer, 200x answer after 3 s, 3001 never, 3002 busy."""
    if exten == "3002":
        leg.refuse("busy", 17)
        await pbx.sleep(5)
        leg.hangup(17)
    elif exten == "3001":
        leg.ringing()
        await pbx.sleep(3600)
        leg.hangup(16)
    elif exten.startswith("200"):
        leg.ringing()
        await pbx.sleep(3)
        leg.answer()
        await pbx.sleep(8)
        leg.hangup(16)
    else:
        leg.answer()
        await pbx.sleep(3600)
        leg.hangup(16)


async def pstn(pbx: Pbx, leg: Leg, number: str) -> None:
    """Run a called party whose behaviour is chosen by the last digit of its number."""
    if leg.is_inner:
        leg.chan.exten = f"b{number[-1:]}"
    digit = number[-1:]
    sleep = pbx.sleep
    if digit in ("0", "1", "2"):
        leg.ringing()
        await sleep(2)
        leg.answer()
        await sleep(10 if digit != "2" else 3)
    elif digit == "3":
        leg.answer()
        await sleep(120)
    elif digit == "4":
        leg.ringing()
        await sleep(1)
        leg.answer()
        await sleep(0.5)
        await _read_digit(pbx, leg)
    elif digit == "5":
        await sleep(1)
        leg.refuse("busy", 17)
        await sleep(10)
        leg.hangup(17)
        return
    elif digit == "6":
        leg.ringing()
        await sleep(30)
        leg.hangup(19)
        return
    elif digit == "7":
        await sleep(0.5)
        leg.refuse("congestion", 34)
        await sleep(10)
        leg.hangup(34)
        return
    elif digit == "8":
        leg.ringing()
        await sleep(1)
        leg.answer()
        await sleep(300)
    else:
        leg.hangup(1)
        return
    leg.hangup(16)


async def _read_digit(pbx: Pbx, leg: Leg) -> None:
    chan = leg.chan
    loop = asyncio.get_running_loop()
    prompt_end = loop.time() + 4.76 / pbx.speed
    digit = ""
    with contextlib.suppress(TimeoutError):
        digit = await asyncio.wait_for(chan.dtmf.get(), 14.76 / pbx.speed)
    if loop.time() < prompt_end:
        await asyncio.sleep(prompt_end - loop.time())
    chan.emit(
        "UserEvent",
        ("UserEvent", "CustomerDTMF"),
        ("Digit", digit),
        ("ReadStatus", "OK" if digit else "TIMEOUT"),
        privilege="user,all",
    )
    if digit:
        await pbx.sleep(1.82)
    await pbx.sleep(1)


async def fax(pbx: Pbx, leg: Leg, exten: str) -> None:
    """Run the fax machines of the ``fax`` context (``send`` or ``receive``)."""
    chan = leg.chan
    leg.answer()
    if exten == "send":
        chan.cid_num, chan.cid_name = "+302100000001", "Fax Sender"
        await pbx.sleep(30.59)
        fax_result(pbx, chan, "SendFAX", chan.variables.get("FAXFILE", "fax3.tif"))
        leg.hangup(16)
    else:
        await pbx.sleep(29.55)
        name = chan.variables.get("FAXNAME") or f"rx-{chan.uniqueid}"
        fax_result(pbx, chan, "ReceiveFAX", f"/var/spool/asterisk/fax/rx/{name}.tif")
        await pbx.sleep(3)
        leg.hangup(16)


def fax_result(pbx: Pbx, chan: Chan, event: str, filename: str) -> None:
    """Emit the fax result event and the dialplan's UserEvent with the outcome."""
    chan.emit(
        event,
        ("LocalStationID", "+302100000002"),
        ("RemoteStationID", "+302100000001"),
        ("PagesTransferred", "3"),
        ("Resolution", "8031x7700"),
        ("TransferRate", "14400"),
        ("FileName", filename),
    )
    kind = "FaxSendResult" if event == "SendFAX" else "FaxReceiveResult"
    chan.emit(
        "UserEvent",
        ("UserEvent", kind),
        ("Status", "SUCCESS"),
        ("Pages", "3"),
        ("Error", "OK"),
        ("File", filename),
        privilege="user,all",
    )
