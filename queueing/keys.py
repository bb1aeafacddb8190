"""Every Redis key of the routing engine, in one place, each with the reason it exists.

All keys live under the deployment's prefix (the same `EGUIDE_REDIS_PREFIX` as `app/keys.py`)
followed by one hash tag, `{routing}`, so they all fall in one Redis Cluster slot and one Lua
script may touch any of them. Per-entity keys (one chat, one queue) are passed to the scripts as
a key PREFIX in KEYS, and the script appends the id, as Centrifuge and arq do: since every key
starts with the same prefix and tag, the appended keys stay in the same slot.

`script_keys()` is the one list every routing script receives as KEYS, in the order that
`queueing/lua/lib.lua` documents and reads.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG = "{routing}"


@dataclass(frozen=True)
class RoutingKeys:
    """The routing keys under one prefix (e.g. "eguide:")."""

    prefix: str

    @property
    def root(self) -> str:
        """Every routing key starts with this: the prefix and the cluster hash tag."""
        return f"{self.prefix}{TAG}:"

    def pattern(self) -> str:
        """A SCAN pattern matching every routing key (glob characters in the prefix escaped)."""
        escaped = "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in self.root)
        return f"{escaped}*"

    # --- singletons ---------------------------------------------------------------------------

    def config(self) -> str:
        """Hash: the routing settings the scripts need (timeouts, centres, languages) and their
        digest. Written by the adapter; each call passes its digest, so a Redis that lost its
        data, or an instance with other settings, is noticed instead of routing on stale rules."""
        return f"{self.root}config"

    def meta(self) -> str:
        """Hash: `seq` (the place counter of `State.seq`), `clock` (the latest `now` any call
        used, so time never runs backwards between instances), `answers` (answer ids) and
        `unsettled` (set by a restore: the next call dispatches whatever it changes)."""
        return f"{self.root}meta"

    def counters(self) -> str:
        """Hash: the live counters of `model.Counters`, updated inside each transition."""
        return f"{self.root}counters"

    def answer_waits(self) -> str:
        """List: every first answer's wait, in order, for percentiles in reports."""
        return f"{self.root}answer-waits"

    def chats(self) -> str:
        """Sorted set (score 0): every chat id the router knows, for snapshots and `clear`."""
        return f"{self.root}chats"

    def counsellors(self) -> str:
        """Sorted set (score 0): every registered counsellor id."""
        return f"{self.root}counsellors"

    def closed(self) -> str:
        """Sorted set: ended and abandoned chats by the time they closed, so they are forgotten
        after the retention time and Redis does not grow for ever (Postgres keeps the record)."""
        return f"{self.root}closed"

    def line_pool(self) -> str:
        """Sorted set by place: unanswered chats of the national pool (national queue and
        overflowed county chats), so a seeker's place is one ZRANK."""
        return f"{self.root}line-pool"

    def free(self) -> str:
        """Sorted set: counsellors who may get an offer now, score = active chats, member =
        sortable idle-since + id (then, after NUL, centre, team and languages), so ZRANGE gives
        `order.load_key` order and says who may take what, without reading any counsellor."""
        return f"{self.root}free"

    def timers(self) -> str:
        """Sorted set by due time: every pending timer (offer deadline, grace times, overflow,
        re-offer block), member = kind digit + owner id + NUL + counsellor id, so equal due times
        fire in the policy's (kind, id) order. Its head is `next_deadline`."""
        return f"{self.root}timers"

    def effects_stream(self) -> str:
        """Stream: each call's effects (field `effects`, a JSON array, and `at`), appended in the
        same script as the transition so every instance learns of offers atomically with them."""
        return f"{self.root}effects"

    def epoch(self) -> str:
        """String: written by the service once it has rebuilt the routing state from PostgreSQL
        (app/routing_service.py). No script writes it, so when it is missing Redis has lost its
        data, whatever the scripts wrote since. `restore` keeps it; `clear` deletes it."""
        return f"{self.root}epoch"

    def rebuild_lock(self) -> str:
        """String with an expiry: the instance rebuilding the state, so only one does. `restore`
        keeps it (it runs under the lock); `clear` deletes it."""
        return f"{self.root}rebuild-lock"

    def control_keys(self) -> frozenset[str]:
        """Keys about the state rather than of it, which `restore` leaves alone."""
        return frozenset({self.epoch(), self.rebuild_lock()})

    # --- prefixes the scripts complete with an id -------------------------------------------

    def chat_prefix(self) -> str:
        """+ chat id -> hash: one chat's routing fields (see `queueing.redis_state`)."""
        return f"{self.root}chat:"

    def counsellor_prefix(self) -> str:
        """+ counsellor id -> hash: one counsellor's routing fields and active chats."""
        return f"{self.root}counsellor:"

    def line_prefix(self) -> str:
        """+ county -> sorted set by place: unanswered chats of a county queue, overflowed ones
        included, since the county's own counsellors serve that whole queue (positions)."""
        return f"{self.root}line:"

    def fresh_prefix(self) -> str:
        """+ county -> sorted set by place: unanswered county chats not yet overflowed, which
        overflow at once when the centre's last available counsellor leaves."""
        return f"{self.root}fresh:"

    def ready_prefix(self) -> str:
        """+ county ":" language -> sorted set by place: chats a county counsellor could be offered
        (waiting, seeker connected), split by language so dispatch reads heads, never scans."""
        return f"{self.root}ready:"

    def ready_pool_prefix(self) -> str:
        """+ language -> sorted set by place: the same for the national pool."""
        return f"{self.root}ready-pool:"

    def staff_prefix(self) -> str:
        """+ county -> sorted set: the centre's registered counsellors (`order.staff_configured`,
        which decides whether a county chat starts in its county queue)."""
        return f"{self.root}staff:"

    def available_prefix(self) -> str:
        """+ county -> sorted set: the centre's available counsellors (`order.staff_present`,
        which decides the `no_staff` overflow)."""
        return f"{self.root}available:"

    def answers_prefix(self) -> str:
        """+ pool (county or "national") -> sorted set by time: recent answers counted by that
        pool, for the expected wait; an overflowed county answer is in both of its pools."""
        return f"{self.root}answers:"

    def script_keys(self) -> list[str]:
        """KEYS of every routing script, in the order `lua/lib.lua` reads them."""
        return [
            self.config(),
            self.meta(),
            self.counters(),
            self.answer_waits(),
            self.chat_prefix(),
            self.counsellor_prefix(),
            self.chats(),
            self.counsellors(),
            self.closed(),
            self.line_prefix(),
            self.line_pool(),
            self.fresh_prefix(),
            self.ready_prefix(),
            self.ready_pool_prefix(),
            self.staff_prefix(),
            self.available_prefix(),
            self.free(),
            self.timers(),
            self.answers_prefix(),
            self.effects_stream(),
        ]
