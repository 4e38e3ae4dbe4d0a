"""Logging set-up: one format, and a filter that removes every configured secret from records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import unquote

from crm_core.settings import Settings, url_password

__all__ = ["SecretRedactor", "configure_logging", "secrets_of"]


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in ``settings`` (passwords inside URLs included)."""
    found: list[str] = []
    if settings.secret_key is not None:
        found.append(settings.secret_key.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        if url is not None:
            pw = url_password(url.get_secret_value())
            if pw:
                # As written and as the driver uses it (percent-decoded).
                found.extend({pw, unquote(pw)})
    for pbx in settings.pbx:
        found.append(pbx.ami_url.secret.get_secret_value())
    return [s for s in found if len(s) >= 4]


class SecretRedactor(logging.Filter):
    """Replaces known secret values in log messages (and exceptions) by ``***``."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__()
        self._values = sorted(set(values), key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._values:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level with secrets redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(SecretRedactor(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
