"""Reading back what PostgreSQL still holds of a chat's words."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

# Text columns that hold codes the service chose, never words people wrote: kept for reports.
CODES = {
    "chat_sessions": {
        "county_number", "language", "state", "queue", "overflow_reason", "end_reason",
    },
    "messages": {"sender_role", "kind"},
    "chat_notes": set(),
    "survey_answers": set(),
    "wrap_ups": {"category"},
}  # fmt: skip


async def words_left(conn: asyncpg.Connection, chat_id: uuid.UUID) -> dict[str, list[Any]]:
    """Every non-null value of every text column (found in the catalogue, so a column added later
    is checked too) of the chat's rows in each table that holds its words, plus the resume
    token's hash: table.column -> values. Empty when nothing of its words is left."""
    columns = await conn.fetch(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = ANY($1)
             AND (data_type IN ('text', 'character varying', 'jsonb')
                  OR column_name = 'resume_token_hash')
           ORDER BY table_name, column_name""",
        list(CODES),
    )
    left: dict[str, list[Any]] = {}
    for row in columns:
        table, column = row["table_name"], row["column_name"]
        if column in CODES[table]:
            continue
        key = "id" if table == "chat_sessions" else "chat_id"
        values = await conn.fetch(
            f'SELECT "{column}" AS v FROM "{table}" WHERE "{key}" = $1 AND "{column}" IS NOT NULL',  # noqa: S608 - names from the catalogue
            chat_id,
        )
        if values:
            left[f"{table}.{column}"] = [v["v"] for v in values]
    return left
