"""Phone numbers as people write them, normalised to E.164 for storage and caller-ID lookup."""

from __future__ import annotations

import re

import phonenumbers

__all__ = ["digits_for_search", "looks_like_phone", "normalise", "try_normalise"]

_PHONE_CHARS = re.compile(r"^[\d\s()+\-./]+$")
_MAX_LEN = 64


def _clean(text: str) -> str:
    raw = text.strip()
    # "00" is the international call prefix in most of the world; phonenumbers only knows it
    # through the region's own prefix, so spell it as "+" (0030 210 ... == +30 210 ...).
    compact = re.sub(r"[\s()\-./]", "", raw)
    if compact.startswith("00"):
        return "+" + compact[2:]
    return raw


def normalise(text: str, region: str) -> str:
    """``text`` as an E.164 number (``+302101234567``); ValueError says what is wrong.

    Accepts E.164, international (``+30 210 …``, ``0030 210 …``) and national format with the
    trunk prefix (``0`` in most of Europe, ``1`` in North America), with spaces, dashes, dots or
    parentheses. A number without a country code is read in ``region`` (an ISO 3166 code).
    """
    if len(text) > _MAX_LEN:
        raise ValueError(f"a phone number has at most {_MAX_LEN} characters")
    if not text.strip() or not _PHONE_CHARS.match(text.strip()):
        raise ValueError("a phone number has only digits, spaces, '+', '-', '.', '/' and brackets")
    try:
        parsed = phonenumbers.parse(_clean(text), region)
    except phonenumbers.NumberParseException as err:
        raise ValueError(f"not a phone number: {err}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number (too short or too long)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise(text: str, region: str) -> str | None:
    """The E.164 form of ``text``, or None when it is not a phone number."""
    try:
        return normalise(text, region)
    except ValueError:
        return None


def looks_like_phone(text: str) -> bool:
    """True when ``text`` is written like a (possibly partial) phone number: ≥ 4 digits."""
    stripped = text.strip()
    return bool(_PHONE_CHARS.match(stripped)) and sum(c.isdigit() for c in stripped) >= 4


def digits_for_search(text: str) -> str:
    """The significant digits of a partial number, for substring search in E.164 values.

    Leading ``00`` / ``0`` (international and trunk prefixes) are dropped so that ``0210 123``
    matches ``+30210123…``.
    """
    digits = "".join(c for c in text if c.isdigit())
    return digits.lstrip("0")
