"""Accounts in PostgreSQL: rehashing at sign-in, new passwords, changes all or nothing, audited."""

from __future__ import annotations

import json
import secrets

import asyncpg
import pytest
from argon2 import PasswordHasher

from app.passwords import needs_rehash, verify_password
from app.users import (
    AccountChanges,
    UserError,
    authenticate,
    create_user,
    set_password,
    update_user,
)

PASSWORD = "users-test-password"

# Cheaper than today's parameters, as a hash made by an older release would be.
_OLD_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


async def new_counsellor(db: asyncpg.Connection, **fields: object) -> str:
    username = f"user{secrets.token_hex(3)}"
    await create_user(
        db,
        username=username,
        display_name="Users Test",
        role="counsellor",
        password=PASSWORD,
        **fields,  # type: ignore[arg-type]
    )
    return username


async def stored_hash(db: asyncpg.Connection, username: str) -> str:
    value: str = await db.fetchval("SELECT password_hash FROM users WHERE username = $1", username)
    return value


@pytest.mark.parametrize("password", ["an-old-long-password", "short"])
async def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(
    db: asyncpg.Connection, password: str
) -> None:
    username = await new_counsellor(db)
    old = _OLD_HASHER.hash(password)
    assert needs_rehash(old)
    await db.execute("UPDATE users SET password_hash = $2 WHERE username = $1", username, old)
    # Even a password too short for today's rules keeps working; it is only rehashed.
    assert await authenticate(db, username, "wrong-password") is None
    assert await stored_hash(db, username) == old
    assert await authenticate(db, username, password) is not None
    new = await stored_hash(db, username)
    assert new != old
    assert not needs_rehash(new)
    assert verify_password(new, password)
    assert await authenticate(db, username, password) is not None
    assert await stored_hash(db, username) == new  # current parameters: left as it is


async def test_a_new_password_replaces_the_old_one_and_is_audited_without_it(
    db: asyncpg.Connection,
) -> None:
    username = await new_counsellor(db)
    admin_id = await db.fetchval("SELECT id FROM users WHERE username = 'admin'")
    user = await set_password(db, username, "a-brand-new-password", actor_user_id=admin_id)
    assert await authenticate(db, username, PASSWORD) is None
    assert await authenticate(db, username, "a-brand-new-password") is not None
    entry = await db.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'user.password_changed' AND target_id = $1",
        str(user.id),
    )
    assert entry["actor_user_id"] == admin_id
    assert json.loads(entry["detail"]) == {"username": username, "via": "admin"}
    assert "a-brand-new-password" not in entry["detail"]
    with pytest.raises(UserError, match="at least 10"):
        await set_password(db, username, "short")


async def test_routing_settings_change_together_and_the_audit_says_what_changed(
    db: asyncpg.Connection,
) -> None:
    username = await new_counsellor(db, centres=("03",), languages=("nb",), capacity=2)
    user, changed = await update_user(
        db,
        username,
        AccountChanges(
            centres=("46", "03"), national_team=True, languages=("nb", "en"), capacity=3
        ),
    )
    assert user.centres == ("03", "46")
    assert user.national_team and user.languages == ("nb", "en") and user.capacity == 3
    assert changed == {
        "centres": {"from": ["03"], "to": ["03", "46"]},
        "national_team": {"from": False, "to": True},
        "languages": {"from": ["nb"], "to": ["nb", "en"]},
        "capacity": {"from": 2, "to": 3},
    }
    entry = await db.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'user.updated' AND target_id = $1", str(user.id)
    )
    assert entry["actor_user_id"] is None
    assert json.loads(entry["detail"]) == {"username": username, "changes": changed, "via": "cli"}
    # The same again changes nothing and writes nothing.
    again, unchanged = await update_user(db, username, AccountChanges(capacity=3))
    assert unchanged == {} and again == user
    count = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'user.updated' AND target_id = $1",
        str(user.id),
    )
    assert count == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        (AccountChanges(centres=("03", "99"), capacity=5), "unknown_centre"),
        (AccountChanges(capacity=11, centres=("46",)), "capacity"),
        (AccountChanges(languages=(), capacity=5), "languages"),
        (AccountChanges(centres=("national",), capacity=5), "centres"),
    ],
)
async def test_a_refused_change_leaves_the_account_as_it_was(
    db: asyncpg.Connection, changes: AccountChanges, code: str
) -> None:
    username = await new_counsellor(db, centres=("03",), capacity=2)
    before = await db.fetchrow("SELECT * FROM users WHERE username = $1", username)
    with pytest.raises(UserError) as refused:
        await update_user(db, username, changes)
    assert refused.value.code == code
    assert await db.fetchrow("SELECT * FROM users WHERE username = $1", username) == before
    centres = await db.fetchval(
        "SELECT array_agg(centre_id) FROM centre_memberships WHERE user_id = $1", before["id"]
    )
    assert centres == ["03"]


async def test_changing_an_unknown_account_is_an_error(db: asyncpg.Connection) -> None:
    with pytest.raises(UserError) as refused:
        await update_user(db, "ghost", AccountChanges(capacity=3))
    assert refused.value.code == "no_user"
