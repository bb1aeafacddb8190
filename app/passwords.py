"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Verified against when a username does not exist, so a missing account costs as much time as a
# wrong password and the timing does not tell which it was.
_DUMMY_HASH = _hasher.hash("no such user: this hash only spends time")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


class PasswordRejected(ValueError):
    """A new password does not meet the rules; the message says which."""


def check_new_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, or absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """An argon2id hash with a fresh salt."""
    check_new_password(password)
    return _hasher.hash(password)


def rehash_password(password: str) -> str:
    """A fresh hash of a password that was just verified, with today's parameters. No length
    rules: a password accepted under older rules must keep working."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a None hash spends the same time and returns False."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters other than today's."""
    return _hasher.check_needs_rehash(password_hash)


T = TypeVar("T")

# Each hash takes about 0.2 s of CPU and 64 MiB. Off the event loop, a sign-in never stalls every
# chat on its instance; two at a time, a burst of sign-ins cannot exhaust memory (the waiting is
# done by worker threads, never by the event loop).
_HASHING = threading.BoundedSemaphore(2)


def _one_at_a_time(work: Callable[[], T]) -> T:
    with _HASHING:
        return work()


async def hash_password_off_loop(password: str) -> str:
    """`hash_password` in a worker thread."""
    return await asyncio.to_thread(_one_at_a_time, lambda: hash_password(password))


async def rehash_password_off_loop(password: str) -> str:
    """`rehash_password` in a worker thread."""
    return await asyncio.to_thread(_one_at_a_time, lambda: rehash_password(password))


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """`verify_password` in a worker thread."""
    return await asyncio.to_thread(_one_at_a_time, lambda: verify_password(password_hash, password))
