"""Name days: the Orthodox Easter computus and the calendars shipped in ``crm/data``.

Each calendar (``data/namedays_<language>.json``) has ``fixed`` days (``"MM-DD": [names]``),
``movable`` feasts (``"<days from Orthodox Easter>": [names]``) and ``after_easter`` feasts that
keep their date unless it falls on or before Easter Sunday, when they move to Easter plus an
offset (St George: Easter Monday). Names are compared accent- and case-insensitively.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "CALENDAR_LANGUAGES",
    "Calendar",
    "calendar",
    "celebrated_names",
    "name_key",
    "orthodox_easter",
]

CALENDAR_LANGUAGES = ("el", "ro", "hu")
_SPLIT = re.compile(r"[\s\-]+")


def orthodox_easter(year: int) -> date:
    """Orthodox Easter Sunday of ``year`` in the Gregorian calendar.

    Meeus' Julian computus gives the date in the Julian calendar; the Julian calendar runs
    ``year // 100 - year // 400 - 2`` days behind the Gregorian one (13 days in 1900-2099).
    """
    a, b, c = year % 4, year % 7, year % 19
    d = (19 * c + 15) % 30
    e = (2 * a + 4 * b - d + 34) % 7
    month, day = divmod(d + e + 114, 31)
    julian = date(year, month, day + 1)
    return julian + timedelta(days=year // 100 - year // 400 - 2)


def name_key(name: str) -> str:
    """``name`` without accents and case, for comparing (Γιώργος, ΓΙΩΡΓΟΣ, γιωργος are equal)."""
    decomposed = unicodedata.normalize("NFD", name.strip())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold()


def person_name_keys(given_name: str | None, nickname: str | None) -> set[str]:
    """The keys of every word of a person's given name and nickname."""
    words: list[str] = []
    for text in (given_name, nickname):
        if text:
            words.extend(w for w in _SPLIT.split(text) if w)
    return {name_key(w) for w in words}


@dataclass(frozen=True)
class Calendar:
    """One language's name-day calendar."""

    language: str
    fixed: dict[tuple[int, int], tuple[str, ...]]
    movable: dict[int, tuple[str, ...]]
    after_easter: tuple[tuple[tuple[int, int], int, tuple[str, ...]], ...]

    def names_on(self, day: date) -> tuple[str, ...]:
        """The names celebrated on ``day``, as the calendar writes them."""
        out: list[str] = list(self.fixed.get((day.month, day.day), ()))
        easter = orthodox_easter(day.year)
        out.extend(self.movable.get((day - easter).days, ()))
        for (month, dom), offset, names in self.after_easter:
            feast = _feast_day(day.year, month, dom)
            if feast is not None and feast <= easter:
                feast = easter + timedelta(days=offset)
            if feast == day:
                out.extend(names)
        return tuple(dict.fromkeys(out))


def _feast_day(year: int, month: int, dom: int) -> date | None:
    try:
        return date(year, month, dom)
    except ValueError:
        return None


def _month_day(text: str) -> tuple[int, int]:
    month, _, dom = text.partition("-")
    return int(month), int(dom)


def _parse(language: str, data: dict[str, Any]) -> Calendar:
    fixed = {_month_day(k): tuple(v) for k, v in data.get("fixed", {}).items()}
    movable = {int(k): tuple(v) for k, v in data.get("movable", {}).items()}
    after = tuple(
        (_month_day(item["date"]), int(item["easter_offset"]), tuple(item["names"]))
        for item in data.get("after_easter", [])
    )
    return Calendar(language, fixed, movable, after)


@cache
def calendar(language: str) -> Calendar:
    """The shipped calendar of ``language`` (``el``, ``ro``, ``hu``); KeyError for others."""
    if language not in CALENDAR_LANGUAGES:
        raise KeyError(language)
    path = resources.files("crm_core.crm.data").joinpath(f"namedays_{language}.json")
    return _parse(language, json.loads(path.read_text(encoding="utf-8")))


def calendars_for(language: str | None) -> tuple[str, ...]:
    """Which calendars apply to a person: their language's when shipped, otherwise all."""
    base = (language or "").split("-", 1)[0].lower()
    return (base,) if base in CALENDAR_LANGUAGES else CALENDAR_LANGUAGES


@lru_cache(maxsize=64)
def _keys_on(language: str, day: date) -> dict[str, str]:
    return {name_key(n): n for n in calendar(language).names_on(day)}


def celebrated_names(
    given_name: str | None, nickname: str | None, language: str | None, day: date
) -> list[str]:
    """The calendar names a person with these names celebrates on ``day`` (empty: none)."""
    keys = person_name_keys(given_name, nickname)
    if not keys:
        return []
    return _matches(keys, calendars_for(language), day)


def _matches(keys: Iterable[str], languages: Iterable[str], day: date) -> list[str]:
    found: dict[str, str] = {}
    wanted = set(keys)
    for lang in languages:
        on_day = _keys_on(lang, day)
        for key in sorted(wanted & on_day.keys()):
            found.setdefault(key, on_day[key])  # the first calendar's spelling
    return list(found.values())
