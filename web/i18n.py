"""Message catalogs of the browser pages: one JSON file per language in ``web/locales/``.

A catalog maps message keys to text with ``{name}`` placeholders. English is complete and is the
fallback for a key another catalog lacks; the pages receive the merged catalog of the user's
language, so the same strings serve the server-rendered HTML and the ES modules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "RTL_LANGUAGES",
    "Catalog",
    "catalog_for",
    "load_catalogs",
]

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur"})
# The languages with a catalog; a user whose language has none gets English.
LANGUAGES = ("en", "el", "fa")


class _Missing(dict[str, str]):
    """Placeholders the caller did not give stay visible as ``{name}``."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Catalog:
    """The messages of one language (English filled in for missing keys)."""

    language: str
    messages: Mapping[str, str]

    @property
    def direction(self) -> str:
        """``rtl`` for right-to-left scripts, else ``ltr``."""
        return "rtl" if self.language in RTL_LANGUAGES else "ltr"

    def gettext(self, key: str, **values: object) -> str:
        """The message ``key`` with its ``{placeholders}`` filled in; the key when unknown."""
        text = self.messages.get(key, key)
        return text.format_map(_Missing({k: str(v) for k, v in values.items()}))


@cache
def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Every ``<language>.json`` catalog of ``directory``."""
    catalogs: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError(f"{path}: a catalog is a JSON object of strings")
        catalogs[path.stem] = data
    if DEFAULT_LANGUAGE not in catalogs:
        raise ValueError(f"{directory}: the {DEFAULT_LANGUAGE} catalog is missing")
    return catalogs


def catalog_for(language: str | None) -> Catalog:
    """The catalog of ``language`` (``el``, ``el-GR`` ...), English for the rest."""
    catalogs = load_catalogs()
    code = (language or DEFAULT_LANGUAGE).split("-", 1)[0].lower()
    if code not in catalogs:
        code = DEFAULT_LANGUAGE
    merged = {**catalogs[DEFAULT_LANGUAGE], **catalogs[code]}
    return Catalog(language=code, messages=merged)
