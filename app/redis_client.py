"""The Redis client: a blocking pool, so a burst waits for a connection instead of failing."""

from __future__ import annotations

import redis.asyncio as redis

from app.settings import Settings

# How long a caller waits for a free pooled connection before the request fails loudly.
POOL_WAIT_SECONDS = 5


def create_redis(settings: Settings) -> redis.Redis:
    """A client whose pool blocks when exhausted (redis-py's default pool raises instead)."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)
