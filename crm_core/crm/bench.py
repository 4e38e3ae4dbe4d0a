"""``callboard bench lookup``: caller-ID lookup and quick search over a million contacts.

The data set: ``N`` persons with two phones each (mobile and landline, E.164 plus the text as
written) and one e-mail, with Greek, Romanian, Hungarian, Persian and English names, all in one
territory of their own (``bench-contacts-N``) so that the CRM's scope rules apply as for any agent.
It is written with PostgreSQL COPY in one transaction (nothing half-loaded), only the columns it
needs, named; a complete set is recognised by its territory and reused.

Measured: :meth:`CrmService.lookup_phone` (what ``GET /api/lookup/phone`` runs; the screen pop
runs the same ``repository.lookup_phone``) as an agent granted that territory, for numbers written
in mixed formats; :meth:`CrmService.search` (``GET /api/search``) by name prefix, phone fragment and
e-mail; and, in the same run, the baseline: the same lookup as one prepared, indexed SQL statement
through asyncpg (E.164 given, territory condition included, so it returns the same rows).
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]  # no stubs; COPY needs the driver itself
import phonenumbers
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.models import TerritoryGrant
from crm_core.crm.phones import normalise
from crm_core.crm.policies import crm_policies
from crm_core.crm.service import CrmService
from crm_core.db import create_engine, make_sessionmaker, session_scope
from crm_core.errors import CallboardError
from crm_core.migrate import upgrade
from crm_core.users.auth import principal_for
from crm_core.users.models import User
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import Principal, default_policies
from crm_core.users.service import UserService

__all__ = [
    "BENCH_REGION",
    "ContactSet",
    "LookupBenchResult",
    "asyncpg_dsn",
    "bench_contact",
    "ensure_bench_user",
    "ensure_contacts",
    "percentile",
    "run_lookup_bench",
    "sample_numbers",
]

log = logging.getLogger(__name__)

# The data set is a Greek call centre's contacts plus foreigners: numbers of the bench region can
# also be written in national format.
BENCH_REGION = "GR"
MAX_CONTACTS = 10_000_000
_CHUNK = 50_000

# Names per locale as "native:latin" words, given names | family names; Latin makes the e-mail.
_NAME_TEXT = {
    "GR": "Μαρία:maria Γιώργος:giorgos Ελένη:eleni Νίκος:nikos Αικατερίνη:aikaterini "
    "Δημήτρης:dimitris Σοφία:sofia Κώστας:kostas Αναστασία:anastasia Γιάννης:giannis | "
    "Παπαδοπούλου:papadopoulou Παπαδόπουλος:papadopoulos Οικονόμου:oikonomou "
    "Γεωργίου:georgiou Βασιλείου:vasileiou Νικολάου:nikolaou Καραγιάννης:karagiannis "
    "Αθανασίου:athanasiou Μακρή:makri Ιωάννου:ioannou Χριστοδούλου:christodoulou",
    "RO": "Ioana:ioana Andrei:andrei Elena:elena Mihai:mihai Ștefan:stefan "
    "Alexandra:alexandra Cristian:cristian | Popescu:popescu Ionescu:ionescu "
    "Dumitrescu:dumitrescu Stoica:stoica Constantinescu:constantinescu Țurcanu:turcanu",
    "HU": "Anna:anna László:laszlo Zsófia:zsofia Gábor:gabor Katalin:katalin Péter:peter "
    "Erzsébet:erzsebet | Nagy:nagy Kovács:kovacs Tóth:toth Szabó:szabo Horváth:horvath "
    "Varga:varga Kiss:kiss Molnár:molnar",
    "IR": "مریم:maryam علی:ali زهرا:zahra رضا:reza فاطمه:fatemeh حسین:hossein | "
    "احمدی:ahmadi محمدی:mohammadi حسینی:hosseini رضایی:rezaei کریمی:karimi موسوی:mousavi",
    "GB": "Olivia:olivia James:james Amelia:amelia Oliver:oliver Isla:isla George:george "
    "Emily:emily Harry:harry | Smith:smith Jones:jones Taylor:taylor Brown:brown "
    "Williams:williams Wilson:wilson Evans:evans Walker:walker",
}


def _names(text: str) -> list[tuple[str, str]]:
    return [(w.split(":")[0], w.split(":")[1]) for w in text.split()]


_NAMES = {
    locale: (_names(text.split("|")[0]), _names(text.split("|")[1]))
    for locale, text in _NAME_TEXT.items()
}
# Locale of contact i by i % 20: GR 8/20, RO 3/20, HU 3/20, IR 2/20, GB 4/20.
_LOCALE_OF = ["GR"] * 8 + ["RO"] * 3 + ["HU"] * 3 + ["IR"] * 2 + ["GB"] * 4
# E.164 prefix + 7 digits, and how the number is written (digit groups after the country code).
_PHONES: dict[str, tuple[tuple[str, str, tuple[int, ...]], tuple[str, str, tuple[int, ...]]]] = {
    "GR": (("+30", "694", (3, 3, 4)), ("+30", "210", (3, 3, 4))),
    "RO": (("+40", "72", (3, 3, 3)), ("+40", "21", (2, 3, 4))),
    "HU": (("+36", "20", (2, 3, 4)), ("+36", "1", (1, 3, 4))),
    "IR": (("+98", "912", (3, 3, 4)), ("+98", "212", (2, 4, 4))),
    "GB": (("+44", "770", (4, 6)), ("+44", "207", (2, 4, 4))),
}
_MIX = 7919  # prime, coprime with 10**7: i -> digits is a bijection, numbers look random


@dataclass(frozen=True)
class ContactSet:
    """A loaded data set: its territory, size, and how long the load took (0 when reused)."""

    territory_id: int
    contacts: int
    first_person_id: int
    load_s: float
    reused: bool


@dataclass(frozen=True)
class LookupBenchResult:
    """The figures printed as one JSON line."""

    contacts: int
    samples: int
    lookup_p50_ms: float
    lookup_p99_ms: float
    search_p50_ms: float
    search_p99_ms: float
    search_samples: int
    baseline_lookup_p50_ms: float
    baseline_lookup_p99_ms: float
    normalise_p50_ms: float
    lookup_found_ratio: float
    load_s: float
    reused_data: bool
    load_avg_1m: float
    target_lookup_p99_ms: float = 1.0
    target_search_p99_ms: float = 50.0


def asyncpg_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy PostgreSQL URL; CallboardError for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise CallboardError(
            f"the benchmark needs PostgreSQL; {parsed.render_as_string(hide_password=True)} "
            "is not (pass --database-url postgresql://...)"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _grouped(cc: str, national: str, groups: tuple[int, ...]) -> str:
    parts, pos = [], 0
    for size in groups:
        parts.append(national[pos : pos + size])
        pos += size
    if pos < len(national):
        parts[-1] += national[pos:]
    return f"{cc} {' '.join(parts)}"


def bench_contact(i: int) -> tuple[str, str, str, list[tuple[str, str, str]]]:
    """Contact ``i``'s given name, family name, e-mail and phones (kind, original, E.164)."""
    locale = _LOCALE_OF[i % len(_LOCALE_OF)]
    given, family = _NAMES[locale]
    g = given[(i // 20) % len(given)]
    f = family[(i // 7) % len(family)]
    digits = f"{(i * _MIX) % 10_000_000:07d}"
    phones = []
    for kind, (cc, prefix, groups) in zip(("mobile", "home"), _PHONES[locale], strict=True):
        national = prefix + digits
        phones.append((kind, _grouped(cc, national, groups), cc + national))
    email = f"{g[1]}.{f[1]}.{i}@example.com"
    return g[0], f[0], email, phones


def _person_rows(
    first_id: int, start: int, stop: int, territory_id: int, now: datetime
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    persons: list[tuple[object, ...]] = []
    phones: list[tuple[object, ...]] = []
    emails: list[tuple[object, ...]] = []
    for i in range(start, stop):
        pid = first_id + i
        given, family, email, numbers = bench_contact(i)
        persons.append((pid, given, family, territory_id, "active", "", now, now))
        for kind, original, e164 in numbers:
            phones.append((pid, kind, original, e164))
        emails.append((pid, "work", email))
    return persons, phones, emails


async def ensure_contacts(dsn: str, contacts: int) -> ContactSet:
    """Load ``contacts`` bench persons (or reuse a complete set of that size)."""
    if not 1 <= contacts <= MAX_CONTACTS:
        raise CallboardError(f"--contacts must be between 1 and {MAX_CONTACTS:,}")
    try:
        return await _ensure_contacts(dsn, contacts)
    except asyncpg.PostgresError as err:
        # E.g. a new NOT NULL column without a default: say what failed, not a traceback.
        raise CallboardError(f"loading the bench contacts failed: {err}") from None


async def _ensure_contacts(dsn: str, contacts: int) -> ContactSet:
    name = f"bench-contacts-{contacts}"
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT id, description FROM territories WHERE name = $1", name)
        if row is not None and row["description"].startswith("complete;first_id="):
            first = int(row["description"].split("=", 1)[1])
            count = await conn.fetchval(
                "SELECT count(*) FROM persons WHERE territory_id = $1", row["id"]
            )
            if count == contacts:
                return ContactSet(row["id"], contacts, first, 0.0, reused=True)
        started = time.perf_counter()
        now = datetime.now(UTC)
        async with conn.transaction():
            if row is not None:  # an older or damaged set of this name: replace it
                await conn.execute("DELETE FROM persons WHERE territory_id = $1", row["id"])
                await conn.execute("DELETE FROM territories WHERE id = $1", row["id"])
            territory_id = await conn.fetchval(
                "INSERT INTO territories (name, description, created_at) VALUES ($1, '', $2) "
                "RETURNING id",
                name,
                now,
            )
            # Reserve a block of person ids, so phones and e-mails can name their person.
            last = await conn.fetchval(
                "SELECT setval(pg_get_serial_sequence('persons', 'id'), "
                "nextval(pg_get_serial_sequence('persons', 'id')) + $1 - 1)",
                contacts,
            )
            first = int(last) - contacts + 1
            for start in range(0, contacts, _CHUNK):
                persons, phones, emails = _person_rows(
                    first, start, min(start + _CHUNK, contacts), territory_id, now
                )
                await conn.copy_records_to_table(
                    "persons",
                    records=persons,
                    columns=[
                        "id",
                        "given_name",
                        "family_name",
                        "territory_id",
                        "status",
                        "lead_source_note",
                        "created_at",
                        "updated_at",
                    ],
                )
                await conn.copy_records_to_table(
                    "phones", records=phones, columns=["person_id", "kind", "original", "e164"]
                )
                await conn.copy_records_to_table(
                    "emails", records=emails, columns=["person_id", "kind", "address"]
                )
                log.info("bench data: %d of %d contacts loaded", start + len(persons), contacts)
            await conn.execute(
                "UPDATE territories SET description = $2 WHERE id = $1",
                territory_id,
                f"complete;first_id={first}",
            )
        for table in ("persons", "phones", "emails"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        return ContactSet(territory_id, contacts, first, time.perf_counter() - started, False)
    finally:
        await conn.close()


async def ensure_bench_user(
    sessions: async_sessionmaker[AsyncSession],
    users: UserService,
    username: str,
    territory_id: int,
    *,
    password: str | None = None,
) -> Principal:
    """An agent granted the bench territory (personally), as the principal the API would build."""
    user = await users.ensure_user(
        username=username,
        password=password or secrets.token_urlsafe(24),
        roles=["agent"],
        display_name=username,
    )
    async with session_scope(sessions) as db:
        granted = await db.scalar(
            select(TerritoryGrant.id).where(
                TerritoryGrant.user_id == user.id, TerritoryGrant.territory_id == territory_id
            )
        )
        if granted is None:
            db.add(TerritoryGrant(territory_id=territory_id, user_id=user.id))
    async with sessions() as db:
        loaded = await db.get(User, user.id)
        assert loaded is not None
        return principal_for(loaded, auth_method="internal")


def sample_numbers(contacts: int, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` (number as written, its E.164) of random bench contacts, in mixed formats.

    E.164; international with spaces; ``00`` instead of ``+``; national (numbers of the bench
    region, with the trunk prefix where the country has one); digits with dashes.
    """
    out = []
    for n in range(count):
        i = rng.randrange(contacts)
        _kind, _original, e164 = bench_contact(i)[3][rng.randrange(2)]
        parsed = phonenumbers.parse(e164)
        style = n % 5
        if style == 0:
            text = e164
        elif style == 1:
            text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        elif style == 2:
            text = "00" + phonenumbers.format_number(
                parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
            ).removeprefix("+")
        elif style == 3 and phonenumbers.region_code_for_number(parsed) == BENCH_REGION:
            text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        else:
            text = "00" + e164[1:4] + "-" + e164[4:8] + "-" + e164[8:]
        out.append((text, e164))
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank, in the values' unit."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _search_texts(contacts: int, count: int, rng: random.Random) -> Iterator[str]:
    """Name prefixes, phone fragments and e-mail prefixes of random contacts, in turn."""
    for n in range(count):
        given, family, email, phones = bench_contact(rng.randrange(contacts))
        style = n % 4
        if style == 0:
            yield family[:5]
        elif style == 1:
            yield f"{given} {family[:3]}"
        elif style == 2:
            e164 = phones[0][2]
            yield f"{e164[-7:-4]} {e164[-4:]}"
        else:
            yield email.split("@", 1)[0]


def _ms(seconds: list[float], q: float) -> float:
    return round(percentile(seconds, q) * 1000, 3)


async def _baseline(dsn: str, numbers: list[tuple[str, str]], territory_id: int) -> list[float]:
    conn = await asyncpg.connect(dsn)
    try:
        stmt = await conn.prepare(
            "SELECT p.id, p.given_name, p.family_name, ph.kind FROM phones ph "
            "JOIN persons p ON p.id = ph.person_id "
            "WHERE ph.e164 = $1 AND p.territory_id = $2"
        )
        times = []
        for _text, e164 in numbers:
            t0 = time.perf_counter()
            await stmt.fetch(e164, territory_id)
            times.append(time.perf_counter() - t0)
        return times
    finally:
        await conn.close()


async def run_lookup_bench(
    database_url: str, *, contacts: int = 1_000_000, samples: int = 2000, seed: int = 1
) -> LookupBenchResult:
    """Migrate, load or reuse the contacts, then measure lookup, search and the baseline."""
    if samples < 1:
        raise CallboardError("--samples must be at least 1")
    dsn = asyncpg_dsn(database_url)
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        data = await ensure_contacts(dsn, contacts)
        sessions = make_sessionmaker(engine)
        policies = default_policies(extra=crm_policies())
        users = UserService(sessions, hashing=PasswordHashing(), policies=policies)
        principal = await ensure_bench_user(
            sessions, users, "bench-lookup-agent", data.territory_id
        )
        crm = CrmService(sessions, policies, BENCH_REGION)
        rng = random.Random(seed)
        warm = sample_numbers(contacts, min(200, samples), rng)
        numbers = sample_numbers(contacts, samples, rng)
        for text, _e164 in warm:  # connections, statement caches, the index's hot pages
            await crm.lookup_phone(principal, text)
        await _baseline(dsn, warm, data.territory_id)
        lookups: list[float] = []
        found = 0
        for text, e164 in numbers:
            t0 = time.perf_counter()
            got, candidates = await crm.lookup_phone(principal, text)
            lookups.append(time.perf_counter() - t0)
            if got != e164:
                raise CallboardError(f"{text!r} was read as {got}, not {e164}")
            found += len(candidates) == 1
        normalising = []
        for text, _e164 in numbers[: min(500, samples)]:
            t0 = time.perf_counter()
            normalise(text, BENCH_REGION)
            normalising.append(time.perf_counter() - t0)
        baseline = await _baseline(dsn, numbers, data.territory_id)
        search_samples = max(8, samples // 20)
        searches: list[float] = []
        for text in _search_texts(contacts, search_samples, rng):
            t0 = time.perf_counter()
            await crm.search(principal, text, 20)
            searches.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return LookupBenchResult(
        contacts=contacts,
        samples=samples,
        lookup_p50_ms=_ms(lookups, 50),
        lookup_p99_ms=_ms(lookups, 99),
        search_p50_ms=_ms(searches, 50),
        search_p99_ms=_ms(searches, 99),
        search_samples=search_samples,
        baseline_lookup_p50_ms=_ms(baseline, 50),
        baseline_lookup_p99_ms=_ms(baseline, 99),
        normalise_p50_ms=round(statistics.median(normalising) * 1000, 3),
        lookup_found_ratio=round(found / samples, 4),
        load_s=round(data.load_s, 1),
        reused_data=data.reused,
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
