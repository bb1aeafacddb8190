"""The append-only audit log: who did what to which account or chat, and when.

Entries are only ever added (`record`) and read (`search`); a trigger refuses UPDATE, and the
app has no route that changes or deletes one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


async def record(
    conn: asyncpg.Connection,
    action: str,
    *,
    actor_user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    """Append one entry. `detail` holds identifiers and settings, never message text."""
    await conn.execute(
        """INSERT INTO audit_log (actor_user_id, action, target_type, target_id, detail, address)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::inet)""",
        actor_user_id,
        action,
        target_type,
        target_id,
        json.dumps(detail or {}),
        address,
    )


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to list; None matches everything. `target` is a user's name (entries
    about that account) or any target id (a chat's, say)."""

    action: str | None = None
    actor_user_id: int | None = None
    target: str | None = None
    since: datetime | None = None  # inclusive
    before: datetime | None = None  # exclusive


async def search(
    conn: asyncpg.Connection, query: AuditQuery, limit: int, offset: int = 0
) -> list[asyncpg.Record]:
    """Entries matching the query, newest first, with the actor's and a user target's names."""
    conditions: list[str] = []
    params: list[Any] = []

    def where(condition: str, *values: Any) -> None:
        for value in values:
            params.append(value)
            condition = condition.replace("?", f"${len(params)}", 1)
        conditions.append(condition)

    if query.action is not None:
        where("a.action = ?", query.action)
    if query.actor_user_id is not None:
        where("a.actor_user_id = ?", query.actor_user_id)
    if query.target is not None:
        where(
            "(a.target_id = ? OR (a.target_type = 'user' AND a.target_id = "
            "(SELECT id::text FROM users WHERE username = ?)))",
            query.target,
            query.target,
        )
    if query.since is not None:
        where("a.at >= ?", query.since)
    if query.before is not None:
        where("a.at < ?", query.before)
    params += [limit, offset]
    # Only the fixed conditions above are joined in; every value is a query parameter.
    sql = f"""
        SELECT a.id, a.at, a.action, a.actor_user_id, actor.username AS actor_username,
               a.target_type, a.target_id, target.username AS target_username,
               a.detail::text AS detail, host(a.address) AS address
        FROM audit_log a
        LEFT JOIN users actor ON actor.id = a.actor_user_id
        LEFT JOIN users target ON a.target_type = 'user' AND target.id::text = a.target_id
        {"WHERE " + " AND ".join(conditions) if conditions else ""}
        ORDER BY a.id DESC
        LIMIT ${len(params) - 1} OFFSET ${len(params)}"""  # noqa: S608
    return list(await conn.fetch(sql, *params))


async def actions(conn: asyncpg.Connection) -> list[str]:
    """Every action the log holds, for the viewer's filter."""
    rows = await conn.fetch("SELECT DISTINCT action FROM audit_log ORDER BY action")
    return [row["action"] for row in rows]
