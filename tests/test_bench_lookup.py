"""``callboard bench lookup`` end to end with a tiny data set, and the data set's own rules."""

from __future__ import annotations

import asyncio
import json
import random

import asyncpg  # type: ignore[import-untyped]
import pytest

from crm_core.crm.bench import BENCH_REGION, bench_contact, percentile, sample_numbers
from crm_core.crm.phones import normalise
from tests.cli_helpers import run_cli

LOOKUP_KEYS = {
    "contacts",
    "samples",
    "lookup_p50_ms",
    "lookup_p99_ms",
    "search_p50_ms",
    "search_p99_ms",
    "search_samples",
    "baseline_lookup_p50_ms",
    "baseline_lookup_p99_ms",
    "normalise_p50_ms",
    "lookup_found_ratio",
    "load_s",
    "reused_data",
    "load_avg_1m",
    "target_lookup_p99_ms",
    "target_search_p99_ms",
}


def _figures(stdout: str) -> dict[str, object]:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout  # one JSON line, nothing else on stdout
    figures: dict[str, object] = json.loads(lines[0])
    return figures


def test_bench_contacts_are_stored_as_the_crm_would() -> None:
    seen: set[str] = set()
    for i in [*range(200), 999_999, 5_000_000]:
        given, family, email, phones = bench_contact(i)
        assert given
        assert family
        assert "@" in email
        assert [kind for kind, _, _ in phones] == ["mobile", "home"]
        for _kind, original, e164 in phones:
            # The text as written normalises to the stored E.164 form, in any region.
            assert normalise(original, BENCH_REGION) == e164
            assert normalise(original, "US") == e164
            seen.add(e164)
    assert len(seen) == 2 * 202  # every number belongs to one contact


def test_sample_numbers_come_in_mixed_formats_of_known_numbers() -> None:
    samples = sample_numbers(1000, 50, random.Random(3))
    texts = [text for text, _ in samples]
    assert any(t.startswith("+") and " " not in t for t in texts)  # E.164
    assert any(t.startswith("+") and " " in t for t in texts)  # international, spaced
    assert any(t.startswith("00") for t in texts)  # international call prefix
    assert any(t[0].isdigit() and not t.startswith("00") for t in texts)  # national
    for text, e164 in samples:
        assert normalise(text, BENCH_REGION) == e164, text


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_lookup_prints_its_figures_then_reuses_the_data(bench_db: str) -> None:
    args = ("bench", "lookup", "--contacts", "500", "--samples", "40", "--database-url", bench_db)
    first = run_cli(*args, timeout=240)
    assert first.returncode == 0, first.stderr
    figures = _figures(first.stdout)
    assert set(figures) == LOOKUP_KEYS
    assert figures["contacts"] == 500
    assert figures["samples"] == 40
    assert figures["reused_data"] is False
    assert figures["lookup_found_ratio"] == 1.0  # every sampled number found its one contact
    for kind in ("lookup", "search", "baseline_lookup"):
        p50, p99 = figures[f"{kind}_p50_ms"], figures[f"{kind}_p99_ms"]
        assert isinstance(p50, float)
        assert isinstance(p99, float)
        assert 0 < p50 <= p99, kind
    assert figures["target_lookup_p99_ms"] == 1.0
    assert figures["target_search_p99_ms"] == 50.0

    again = run_cli(*args, timeout=240)
    assert again.returncode == 0, again.stderr
    assert _figures(again.stdout)["reused_data"] is True

    async def counts() -> tuple[int, int, int]:
        conn = await asyncpg.connect(bench_db)
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM phones), "
                "(SELECT count(*) FROM territories WHERE name = 'bench-contacts-500')"
            )
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])
        finally:
            await conn.close()

    assert asyncio.run(counts()) == (500, 1000, 1)


def test_bench_lookup_refuses_sqlite() -> None:
    result = run_cli(
        "bench", "lookup", "--contacts", "10", "--database-url", "sqlite:///x.db", timeout=60
    )
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr
