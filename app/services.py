"""The long-lived objects a request needs, made once by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from app.keys import AppKeys
from app.metrics import Metrics
from app.routing_service import RoutingService
from app.session_watch import SessionWatch
from app.sessions import SessionStore
from app.settings import Settings
from app.signin_limits import SigninLimiter
from web.templating import PageRenderer


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: asyncpg.Pool
    redis: redis.Redis
    keys: AppKeys
    sessions: SessionStore
    signin_limiter: SigninLimiter
    session_watch: SessionWatch
    pages: PageRenderer
    routing: RoutingService
    metrics: Metrics
