"""Disposition codes: seeded global set, per-campaign codes, uniqueness, who may manage them."""

from __future__ import annotations

from tests.dialer.helpers import World


async def test_seeded_global_codes_are_readable_by_agents(w: World) -> None:
    await w.api.as_("agent1")
    items = (await w.api.get("/api/dispositions"))["items"]
    codes = [i["code"] for i in items]
    assert {"SALE", "CALLBACK", "NO_ANSWER", "DNC"} <= set(codes)
    assert all(i["campaign_id"] is None and i["active"] for i in items)
    callback = next(i for i in items if i["code"] == "CALLBACK")
    assert callback["requires_callback"] is True
    assert callback["category"] == "callback"
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)
    # Agents read codes but do not manage them.
    await w.api.post("/api/dispositions", {"code": "X", "label": "X"}, expect=403)
    await w.api.get("/api/dispositions", expect=403, include_inactive="true")


async def test_campaign_codes_add_to_and_override_global_ones(w: World) -> None:
    await w.api.as_("sup")
    own = await w.api.post(
        "/api/dispositions",
        {"code": "PROMISE", "label": "Promise to pay", "category": "success", "campaign_id": 7},
    )
    assert own["campaign_id"] == 7
    override = await w.api.post(
        "/api/dispositions",
        {"code": "SALE", "label": "Sold the premium plan", "category": "success", "campaign_id": 7},
    )
    # The same code twice in one scope is refused, globally and within a campaign.
    body = await w.api.post("/api/dispositions", {"code": "SALE", "label": "again"}, expect=409)
    assert body["error"]["details"]["field"] == "code"
    await w.api.post(
        "/api/dispositions", {"code": "PROMISE", "label": "again", "campaign_id": 7}, expect=409
    )
    # ... but another campaign may reuse it.
    await w.api.post("/api/dispositions", {"code": "PROMISE", "label": "Promise", "campaign_id": 8})
    bad = await w.api.post(
        "/api/dispositions", {"code": "no spaces", "label": "x", "category": "nope"}, expect=400
    )
    assert {f["field"] for f in bad["error"]["details"]["fields"]} == {"code", "category"}

    await w.api.as_("agent1")
    effective = (await w.api.get("/api/dispositions", campaign_id="7"))["items"]
    by_code = {i["code"]: i for i in effective}
    assert by_code["SALE"]["id"] == override["id"]
    assert by_code["PROMISE"]["id"] == own["id"]
    assert [i["code"] for i in effective].count("SALE") == 1
    global_only = (await w.api.get("/api/dispositions"))["items"]
    assert "PROMISE" not in {i["code"] for i in global_only}

    # Deactivating hides a code from agents; managers still see it on request.
    await w.api.as_("admin")
    await w.api.patch(f"/api/dispositions/{own['id']}", {"active": False, "position": 5})
    await w.api.patch(f"/api/dispositions/{own['id']}", {"label": None}, expect=400)
    await w.api.patch("/api/dispositions/999999", {"active": False}, expect=404)
    everything = await w.api.get("/api/dispositions", campaign_id="7", include_inactive="true")
    assert "PROMISE" in {i["code"] for i in everything["items"]}
    await w.api.as_("agent1")
    effective = (await w.api.get("/api/dispositions", campaign_id="7"))["items"]
    assert "PROMISE" not in {i["code"] for i in effective}
