"""Staff accounts in PostgreSQL: create, list, disable, and check a sign-in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app import audit
from app.passwords import (
    PasswordRejected,
    check_new_password,
    hash_password_off_loop,
    needs_rehash,
    rehash_password_off_loop,
    verify_password_off_loop,
)

ROLES = ("counsellor", "supervisor", "admin")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")
MIN_CAPACITY, MAX_CAPACITY = 1, 10


class UserError(ValueError):
    """A request about an account cannot be carried out; the message says why.

    `code` names the problem for pages that show it translated: `username`, `display_name`,
    `role`, `languages`, `capacity`, `centres` (a field's value is invalid), `taken`,
    `unknown_centre`, `no_user`, `password_length`.
    """

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def via(actor_user_id: int | None) -> str:
    """How an account change was made, for the audit log: an admin on the admin page, or the
    command line (which has no signed-in actor)."""
    return "cli" if actor_user_id is None else "admin"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    national_team: bool
    languages: tuple[str, ...]
    capacity: int
    disabled: bool
    centres: tuple[str, ...]


_SELECT_USERS = """
SELECT u.id, u.username, u.display_name, u.role, u.national_team, u.languages, u.capacity,
       u.disabled, u.password_hash,
       coalesce(array_agg(m.centre_id ORDER BY m.centre_id)
                FILTER (WHERE m.centre_id IS NOT NULL), '{}') AS centres
FROM users u LEFT JOIN centre_memberships m ON m.user_id = u.id
"""


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        national_team=row["national_team"],
        languages=tuple(row["languages"]),
        capacity=row["capacity"],
        disabled=row["disabled"],
        centres=tuple(row["centres"]),
    )


def validate_new_user(
    username: str,
    display_name: str,
    role: str,
    centres: Sequence[str],
    languages: Sequence[str],
    capacity: int,
) -> None:
    """Check an account's fields before anything is written."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserError(
            "a username is 2-63 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            "username",
        )
    if not 1 <= len(display_name.strip()) <= 100:
        raise UserError("a display name is 1-100 characters", "display_name")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", "role")
    validate_settings(centres, languages, capacity)


def validate_settings(centres: Sequence[str], languages: Sequence[str], capacity: int) -> None:
    """Check the routing settings of an account: centres, languages and capacity."""
    if not languages:
        raise UserError("name at least one language", "languages")
    for language in languages:
        if not LANGUAGE_PATTERN.fullmatch(language):
            raise UserError(
                f"{language!r} is not a language code such as nb, nn or en", "languages"
            )
    if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise UserError(f"capacity must be between {MIN_CAPACITY} and {MAX_CAPACITY}", "capacity")
    if "national" in centres:
        raise UserError("the national team is a flag (--national), not a centre", "centres")


async def _check_centres(conn: asyncpg.Connection, centres: Sequence[str]) -> None:
    rows = await conn.fetch("SELECT id FROM centres WHERE id = any($1)", list(centres))
    unknown = sorted(set(centres) - {row["id"] for row in rows})
    if unknown:
        raise UserError(f"no county centre numbered {', '.join(unknown)}", "unknown_centre")


async def create_user(
    conn: asyncpg.Connection,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    centres: Sequence[str] = (),
    national_team: bool = False,
    languages: Sequence[str] = ("nb",),
    capacity: int = 2,
    actor_user_id: int | None = None,
) -> User:
    """Create an account with its centre memberships, all or nothing."""
    validate_new_user(username, display_name, role, centres, languages, capacity)
    try:
        password_hash = await hash_password_off_loop(password)
    except PasswordRejected as error:
        raise UserError(str(error), "password_length") from None
    await _check_centres(conn, centres)
    async with conn.transaction():
        try:
            user_id = await conn.fetchval(
                """INSERT INTO users (username, display_name, role, password_hash, national_team,
                                      languages, capacity)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
                username,
                display_name.strip(),
                role,
                password_hash,
                national_team,
                list(dict.fromkeys(languages)),
                capacity,
            )
        except asyncpg.UniqueViolationError:
            raise UserError(f"the username {username!r} is taken", "taken") from None
        await conn.executemany(
            "INSERT INTO centre_memberships (user_id, centre_id) VALUES ($1, $2)",
            [(user_id, centre) for centre in dict.fromkeys(centres)],
        )
        await audit.record(
            conn,
            "user.created",
            actor_user_id=actor_user_id,
            target_type="user",
            target_id=str(user_id),
            detail={
                "username": username,
                "role": role,
                "centres": sorted(set(centres)),
                "national_team": national_team,
                "languages": list(dict.fromkeys(languages)),
                "capacity": capacity,
                "via": via(actor_user_id),
            },
        )
    user = await find_user(conn, username)
    assert user is not None
    return user


async def find_user(conn: asyncpg.Connection, username: str) -> User | None:
    row = await conn.fetchrow(_SELECT_USERS + " WHERE u.username = $1 GROUP BY u.id", username)
    return None if row is None else _user(row)


async def list_users(conn: asyncpg.Connection) -> list[User]:
    rows = await conn.fetch(_SELECT_USERS + " GROUP BY u.id ORDER BY u.username")
    return [_user(row) for row in rows]


async def set_disabled(
    conn: asyncpg.Connection, username: str, disabled: bool, actor_user_id: int | None = None
) -> User:
    """Disable or re-enable an account; the caller ends a disabled user's sessions."""
    async with conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET disabled = $2, updated_at = now() WHERE username = $1 RETURNING id",
            username,
            disabled,
        )
        if user_id is None:
            raise UserError(f"no user named {username!r}", "no_user")
        await audit.record(
            conn,
            "user.disabled" if disabled else "user.enabled",
            actor_user_id=actor_user_id,
            target_type="user",
            target_id=str(user_id),
            detail={"username": username, "via": via(actor_user_id)},
        )
    user = await find_user(conn, username)
    assert user is not None
    return user


async def authenticate(conn: asyncpg.Connection, username: str, password: str) -> User | None:
    """The user when the password is right and the account enabled; None otherwise.

    A missing user costs the same argon2 work as a wrong password. A hash made with older
    parameters is replaced on a successful sign-in.
    """
    row = await conn.fetchrow(
        _SELECT_USERS + " WHERE u.username = $1 GROUP BY u.id", username.strip().lower()
    )
    password_hash = None if row is None else row["password_hash"]
    if (
        not await verify_password_off_loop(password_hash, password)
        or row is None
        or row["disabled"]
    ):
        return None
    if needs_rehash(row["password_hash"]):
        # Only this hash is replaced: a password changed meanwhile is not overwritten.
        await conn.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
            row["id"],
            row["password_hash"],
            await rehash_password_off_loop(password),
        )
    return _user(row)


async def set_password(
    conn: asyncpg.Connection, username: str, password: str, actor_user_id: int | None = None
) -> User:
    """Give an account a new password; the caller ends the user's sessions. The audit entry
    says who changed it, never the password."""
    try:
        check_new_password(password)
    except PasswordRejected as error:
        raise UserError(str(error), "password_length") from None
    password_hash = await hash_password_off_loop(password)
    async with conn.transaction():
        user_id = await conn.fetchval(
            """UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1
               RETURNING id""",
            username,
            password_hash,
        )
        if user_id is None:
            raise UserError(f"no user named {username!r}", "no_user")
        await audit.record(
            conn,
            "user.password_changed",
            actor_user_id=actor_user_id,
            target_type="user",
            target_id=str(user_id),
            detail={"username": username, "via": via(actor_user_id)},
        )
    user = await find_user(conn, username)
    assert user is not None
    return user


@dataclass(frozen=True)
class AccountChanges:
    """What to change about an account's routing; None leaves a field as it is."""

    centres: tuple[str, ...] | None = None
    national_team: bool | None = None
    languages: tuple[str, ...] | None = None
    capacity: int | None = None

    def is_empty(self) -> bool:
        return all(
            value is None
            for value in (self.centres, self.national_team, self.languages, self.capacity)
        )


async def update_user(
    conn: asyncpg.Connection,
    username: str,
    changes: AccountChanges,
    actor_user_id: int | None = None,
) -> tuple[User, dict[str, dict[str, object]]]:
    """Change centre memberships, national-team membership, languages and capacity, all or
    nothing; return the account and what changed (field -> {"from", "to"}), which is also
    what the audit entry holds. Nothing changed writes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT id FROM users WHERE username = $1 FOR UPDATE", username)
        if row is None:
            raise UserError(f"no user named {username!r}", "no_user")
        before = await find_user(conn, username)
        assert before is not None
        centres = before.centres if changes.centres is None else tuple(sorted(set(changes.centres)))
        languages = (
            before.languages
            if changes.languages is None
            else tuple(dict.fromkeys(changes.languages))
        )
        national = before.national_team if changes.national_team is None else changes.national_team
        capacity = before.capacity if changes.capacity is None else changes.capacity
        validate_settings(centres, languages, capacity)
        await _check_centres(conn, centres)
        changed: dict[str, dict[str, object]] = {}
        for field, old, new in (
            ("centres", list(before.centres), list(centres)),
            ("national_team", before.national_team, national),
            ("languages", list(before.languages), list(languages)),
            ("capacity", before.capacity, capacity),
        ):
            if old != new:
                changed[field] = {"from": old, "to": new}
        if not changed:
            return before, {}
        await conn.execute(
            """UPDATE users SET national_team = $2, languages = $3, capacity = $4,
                                updated_at = now()
               WHERE id = $1""",
            before.id,
            national,
            list(languages),
            capacity,
        )
        if "centres" in changed:
            await conn.execute("DELETE FROM centre_memberships WHERE user_id = $1", before.id)
            await conn.executemany(
                "INSERT INTO centre_memberships (user_id, centre_id) VALUES ($1, $2)",
                [(before.id, centre) for centre in centres],
            )
        await audit.record(
            conn,
            "user.updated",
            actor_user_id=actor_user_id,
            target_type="user",
            target_id=str(before.id),
            detail={"username": username, "changes": changed, "via": via(actor_user_id)},
        )
    user = await find_user(conn, username)
    assert user is not None
    return user, changed
