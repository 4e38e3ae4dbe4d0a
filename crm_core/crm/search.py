"""Quick search of companies and persons by name, code, e-mail or phone, within the caller's
scope: ranked (name prefixes first) and capped per way of matching (``truncated``).

See docs/crm.md (Search) for the plan of the statements and the measurements behind it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm import phones as phone_rules
from crm_core.crm.models import (
    Company,
    Email,
    Person,
    Phone,
)
from crm_core.crm.policies import (
    resolve_scope,
    resolved_condition,
)
from crm_core.crm.repository import record_policies
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["SEARCH_CANDIDATES", "SearchResult", "search_records"]


def _phone_match(owner: Any, fk: Any, text: str, region: str) -> ColumnElement[bool] | None:
    """``owner`` has a phone equal to ``text`` in E.164, or containing its significant digits."""
    if not phone_rules.looks_like_phone(text):
        return None
    conds: list[ColumnElement[bool]] = []
    e164 = phone_rules.try_normalise(text, region)
    if e164 is not None:
        conds.append(Phone.e164 == e164)
    digits = phone_rules.digits_for_search(text)
    if len(digits) >= 4:
        conds.append(Phone.e164.contains(digits, autoescape=True))
    if not conds:
        return None
    return owner.in_(select(fk).where(or_(*conds)))  # type: ignore[no-any-return]


def _contains(col: Any, needle: str) -> ColumnElement[bool]:
    return func.lower(col).contains(needle, autoescape=True)


def _like(col: Any, needle: str, *, ignore_case: bool = False) -> ColumnElement[bool]:
    """``col`` contains ``needle`` (escaped as ``autoescape`` does), the pattern written into the
    SQL so that PostgreSQL plans each search for its own pattern (a trigram index for a rare
    one, not a generic plan)."""
    pattern = "%" + needle.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    value = literal(pattern, literal_execute=True)
    expr = col.ilike(value, escape="/") if ignore_case else col.like(value, escape="/")
    return cast("ColumnElement[bool]", expr)


# A select of the quick search (``id, ok`` for the arms), whatever its columns.
_Arm = Select[*tuple[Any, ...]]


def _contains_arms(text: str, region: str) -> list[_Arm]:
    """One ``SELECT id, ok`` (``ok`` always true) per indexed match — names and nickname,
    e-mail, phone — whose union is exactly the persons the quick search finds: those whose
    "given family" or "family given" name or nickname contains the lower-cased text, or an
    e-mail address of whom contains it, or (a text that looks like a phone number) a phone of
    whom equals it in E.164 or contains its significant digits. On PostgreSQL a trigram index
    serves each arm (migration 0007). A test compares the union with that condition written as
    one ``OR``.

    The name arm keeps those exact conditions and adds a wider one the indexes can answer:
    every space-free word of the text with three letters or digits in a row lies inside the
    lower-cased given or family name (a word cannot span the one space between them), and
    ``ILIKE`` compares lower-cased. The e-mail and phone arms join their person, so that the
    caller's scope can be applied inside every arm (see :func:`search_records`).
    """
    needle = text.lower()
    exact_names = or_(
        _contains(Person.given_name + " " + Person.family_name, needle),
        _contains(Person.family_name + " " + Person.given_name, needle),
    )
    words = [w for w in needle.split(" ") if _indexable(w)]
    by_name = and_(
        *(
            or_(
                _like(Person.given_name, w, ignore_case=True),
                _like(Person.family_name, w, ignore_case=True),
            )
            for w in words
        ),
        exact_names,
    )
    by_nickname = and_(
        _like(Person.nickname, needle, ignore_case=True), _contains(Person.nickname, needle)
    )
    ok = true().label("ok")
    arms: list[_Arm] = [select(Person.id.label("id"), ok).where(or_(by_name, by_nickname))]
    # Stored addresses have no white space (schemas.EmailIn), so a text with a space matches
    # none; left in, its trigrams (``ia ``, `` pa``) would make PostgreSQL recheck thousands.
    if not any(ch.isspace() for ch in needle):
        arms.append(
            select(Email.person_id.label("id"), ok)
            .join(Person, Person.id == Email.person_id)
            .where(_email_contains(needle))
        )
    if phone_rules.looks_like_phone(text):
        conds: list[ColumnElement[bool]] = []
        e164 = phone_rules.try_normalise(text, region)
        if e164 is not None:
            conds.append(Phone.e164 == e164)
        digits = phone_rules.digits_for_search(text)
        if len(digits) >= 4:
            conds.append(_like(Phone.e164, digits))
        if conds:
            arms.append(
                select(Phone.person_id.label("id"), ok)
                .join(Person, Person.id == Phone.person_id)
                .where(or_(*conds))
            )
    return arms


_DIGIT_RUNS = re.compile(r"[0-9]{4,}")


def _email_contains(needle: str) -> ColumnElement[bool]:
    """An e-mail address contains ``needle``: ``LIKE``, served by the trigram index.

    The index reads the whole posting list of every trigram of the pattern, and the letters of
    an address repeat across many (``kostas.christodoulou.379146``: ~940 index pages, 13 ms on
    1M addresses), while a run of four digits is in a few hundred. So when the text holds such
    a run and more, the index is asked for the longest run (0.3 ms there) and the whole text is
    checked on the rows it returns, as an expression the index does not serve.
    """
    runs = _DIGIT_RUNS.findall(needle)
    run = max(runs, key=len) if runs else needle
    if run == needle:
        return _like(Email.address, needle)
    return and_(_like(Email.address, run), _like(Email.address.concat(""), needle))


def _indexable(text: str) -> bool:
    """A trigram index can narrow a ``LIKE '%text%'``: three letters or digits in a row."""
    run = 0
    for ch in text:
        run = run + 1 if ch.isalnum() else 0
        if run >= 3:
            return True
    return False


def _name_starts_with(text: str) -> ColumnElement[bool]:
    """The person's family or given name, "given family" or "family given", starts with
    ``text`` (lower-cased): what a person typing a name expects first."""
    needle = text.lower()
    return or_(
        func.lower(Person.given_name + " " + Person.family_name).startswith(
            needle, autoescape=True
        ),
        func.lower(Person.family_name + " " + Person.given_name).startswith(
            needle, autoescape=True
        ),
    )


def _prefix_rank(text: str) -> ColumnElement[int]:
    """0 for a person whose name starts with ``text`` (:func:`_name_starts_with`), 1 for the
    others (matched inside a name, by nickname, e-mail or phone)."""
    return case((_name_starts_with(text), 0), else_=1)


def _at_or_after(col: Any, prefix: str) -> list[ColumnElement[bool]]:
    """``col`` in the range of the strings starting with ``prefix`` in code-point order (the
    order of a C or C.UTF-8 collation), which a B-tree on ``col`` walks in order. Under another
    collation the range is only close; the callers check the prefix exactly as well."""
    conds = [col >= prefix]
    after = ord(prefix[-1]) + 1
    if 0xD800 <= after <= 0xDFFF:  # surrogates are not characters
        after = 0xE000
    if after <= 0x10FFFF:
        conds.append(col < prefix[:-1] + chr(after))
    return conds


# A text with more words than this gets no "given family" split arms (see _prefix_arms).
_SPLIT_WORDS = 3


def _prefix_arms(text: str) -> list[_Arm]:
    """``SELECT id, ok`` of persons whose name starts with ``text`` (:func:`_name_starts_with`),
    one per walk of a B-tree in name order: ``(family_name, given_name)`` and
    ``(given_name, family_name)`` (migration 0008), each stopped by its ``LIMIT`` after a few
    hundred rows — unlike a trigram index, which finds every match before the first is read.

    A B-tree compares case-sensitively, so each walk is made for the text as typed and as names
    are usually written (each word capitalised: ``maria pap`` → ``Maria Pap``): the family name
    or the given name starting with it, and for a text of up to three words each split into an
    exact given (family) name and the start of the family (given) name. The arms find a subset of
    the prefix matches — names stored otherwise (``MCDONALD``) only the trigram arms find.

    Each row comes with ``ok``, the exact condition, which the caller checks: in the ``WHERE``
    clause PostgreSQL would take it for a rare one (it cannot estimate ``lower(…) LIKE``), read
    every name in the range and sort them instead of walking the index and stopping early.
    """
    starts = _name_starts_with(text)
    pairs = (
        (Person.family_name, Person.given_name),
        (Person.given_name, Person.family_name),
    )
    arms: list[_Arm] = []
    for typed in dict.fromkeys(
        (text, " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" ")))
    ):
        words = typed.split(" ")
        for first, second in pairs:
            walk = select(Person.id.label("id"), starts.label("ok")).order_by(first, second)
            arms.append(walk.where(*_at_or_after(first, typed)))
            if len(words) > _SPLIT_WORDS:
                continue
            for i in range(1, len(words)):
                head, tail = " ".join(words[:i]), " ".join(words[i:])
                if head and tail:
                    arms.append(walk.where(first == head, *_at_or_after(second, tail)))
    return arms


def _company_match(text: str, region: str) -> ColumnElement[bool]:
    needle = text.lower()
    conds = [
        _contains(Company.name, needle),
        _contains(Company.code, needle),
        _contains(Company.vat_number, needle),
        Company.id.in_(
            select(Email.company_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = _phone_match(Company.id, Phone.company_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


@dataclass(frozen=True)
class SearchResult:
    """What a quick search found: companies and persons (at most ``limit`` of each).

    ``truncated``: more persons match than were examined — an arm of the person match reached
    :data:`SEARCH_CANDIDATES` — so better matches may exist among those not examined and the
    caller should refine the text.
    """

    companies: list[Company]
    persons: list[Person]
    truncated: bool


# Person ids each arm of the quick search collects at most, in the caller's scope (a page holds
# at most 50). A B-tree walk stops there, and so does a bitmap heap scan's recheck: a common name
# matches 25,000-70,000 of 1M persons, and rechecking and sorting them all took 135-255 ms
# (docs/benchmarks.md). On that set the statements cost ~1 ms per 100 candidates for a name
# prefix, 2-5 ms per 100 for a text found only inside names ("escu", "ana"); 200 leaves room to
# rank a page out of the unordered trigram matches.
SEARCH_CANDIDATES = 200

_Scoper = Callable[[type[Any], _Arm], _Arm]


async def _collect(
    db: AsyncSession, arms: list[_Arm], params: dict[str, Any], candidates: int
) -> tuple[set[int], bool]:
    """The ids the ``arms`` (scoped ``SELECT id, ok``) return with ``ok`` true, at most
    ``candidates`` from each, in one statement, and whether an arm had more of them."""
    # One LIMIT per arm, one more row than kept: an arm with an extra good row was cut (one cut
    # among rows that are not ``ok`` is not counted: the next arms find what it missed). Each
    # arm is a sub-query: SQLite does not accept ``(SELECT … LIMIT n) UNION ALL …``.
    capped = [
        select(literal(n).label("arm"), sub.c.id, sub.c.ok)
        for n, sub in enumerate(arm.limit(candidates + 1).subquery() for arm in arms)
    ]
    found: dict[int, list[int]] = {}
    for arm, person_id, ok in (await db.execute(union_all(*capped), params)).all():
        if ok:
            found.setdefault(arm, []).append(person_id)
    ids = {i for arm_ids in found.values() for i in arm_ids[:candidates]}
    return ids, any(len(arm_ids) > candidates for arm_ids in found.values())


async def _search_persons(
    db: AsyncSession,
    scoped: _Scoper,
    params: dict[str, Any],
    text: str,
    region: str,
    limit: int,
    candidates: int,
) -> tuple[list[Person], bool]:
    """The first ``limit`` persons by :func:`_prefix_rank`, then name, among at most
    ``candidates`` from each arm (the scope applied inside each arm, so that records the caller
    cannot see never take a place), and whether an arm had more.

    The prefix arms (:func:`_prefix_arms`) are read first: when one of them is full, the page
    is made of names starting with the text and the trigram arms (:func:`_contains_arms`),
    whose index scans cannot stop early, are not read. Otherwise the trigram arms are read too,
    and when none of them is full either, every match has been seen.
    """
    ids: set[int] = set()
    truncated = False
    # A text with a digit or an "@" is a phone number or an e-mail address rather than the start
    # of a name: it goes straight to the trigram arms, one statement fewer (they find every
    # match; the prefix arms only spare them).
    if not any(ch.isdigit() or ch == "@" for ch in text):
        ids, truncated = await _collect(
            db, [scoped(Person, arm) for arm in _prefix_arms(text)], params, candidates
        )
    postgresql = db.get_bind().dialect.name == "postgresql"
    if not truncated:
        if postgresql:
            # A LIMITed arm stops after a few hundred rows; starting parallel workers for it
            # costs more (10-15 ms for a common name) than the bitmap scan they share. For this
            # transaction only, which the caller's session ends.
            await db.execute(sql_text("SET LOCAL max_parallel_workers_per_gather = 0"))
        more, truncated = await _collect(
            db, [scoped(Person, arm) for arm in _contains_arms(text, region)], params, candidates
        )
        ids |= more
    if not ids:
        return [], truncated
    # Fetched by primary key; every candidate is already known to be visible.
    if postgresql:
        # One array parameter: the statement text does not change with the number of ids.
        match = Person.id == any_(bindparam("candidates", sorted(ids), type_=ARRAY(Integer)))
    else:
        # Written into the SQL: a few thousand ids would pass SQLite's limit on parameters.
        match = Person.id.in_(
            bindparam("candidates", sorted(ids), expanding=True, literal_execute=True)
        )
    stmt = (
        select(Person)
        .where(match)
        .options(raiseload("*"))
        .order_by(_prefix_rank(text), Person.family_name, Person.given_name, Person.id)
        .limit(limit)
    )
    return list(await db.scalars(stmt)), truncated


async def search_records(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    text: str,
    region: str,
    limit: int,
    *,
    candidates: int | None = None,
) -> SearchResult:
    """Companies and persons visible to ``principal`` matching ``text`` (at most ``limit`` each).

    Persons: each arm of the match collects at most ``candidates`` ids (by default
    :data:`SEARCH_CANDIDATES`, read at the call) in the caller's scope;
    those whose name starts with the text come first, then name order; ``truncated`` says that
    an arm had more. Companies (few, no trigram index) are all matched, in name order. The
    collections of the records are not loaded (``raiseload``): a search shows names.

    The principal's scope is read first as values (:func:`policies.resolve_scope`), so that
    PostgreSQL sees three small ``IN`` lists instead of sub-queries and plans from the matches.
    """
    params: dict[str, Any] = {}
    if record_policies(policies):
        scope = await resolve_scope(db, principal)

        def scoped(model: type[Any], stmt: _Arm) -> _Arm:
            return stmt if scope.everything else stmt.where(resolved_condition(model))

        if not scope.everything:
            params = scope.params()
    else:

        def scoped(model: type[Any], stmt: _Arm) -> _Arm:
            return policies.scope(principal, model, stmt)

    cstmt = scoped(Company, select(Company).where(_company_match(text, region)))
    companies = list(
        await db.scalars(
            cstmt.options(raiseload("*")).order_by(Company.name, Company.id).limit(limit), params
        )
    )
    cap = SEARCH_CANDIDATES if candidates is None else candidates
    persons, truncated = await _search_persons(db, scoped, params, text, region, limit, cap)
    return SearchResult(companies, persons, truncated)
