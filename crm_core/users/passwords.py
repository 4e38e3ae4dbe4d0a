"""Password hashing with argon2id, off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordHashing", "check_password_policy"]

MIN_PASSWORD_LENGTH = 4  # the demo uses "demo"; deployments raise it via their own policy


def check_password_policy(password: str) -> str | None:
    """A message saying what is wrong with ``password``, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


class PasswordHashing:
    """argon2id hashes; hashing runs in a worker thread so the loop keeps serving."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verified against when a username is unknown, so timing does not reveal which part failed.
        self._dummy = self._hasher.hash("callboard-timing-equaliser")

    async def hash(self, password: str) -> str:
        """An argon2id hash of ``password``."""
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; ``None`` costs the same and is False."""
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with weaker parameters than today's."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
