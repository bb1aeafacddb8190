"""The append-only audit log: who did what to which account or chat, and when."""

from __future__ import annotations

import json
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
