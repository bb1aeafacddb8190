"""Every Redis key the app package writes, in one place, each under the configured prefix.

The routing engine keeps its own keys in `queueing/keys.py`, under the same prefix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppKeys:
    prefix: str

    def session(self, token_hash: str) -> str:
        """A staff session (hash), named by the SHA-256 of its cookie so a Redis dump holds no
        usable cookie. Expires after the idle timeout; each request pushes the expiry on."""
        return f"{self.prefix}session:{token_hash}"

    def user_sessions(self, user_id: int) -> str:
        """The set of a user's session hashes, so disabling the user can end every one of them."""
        return f"{self.prefix}user-sessions:{user_id}"

    def sessions_ended(self) -> str:
        """Pub/sub channel: sessions just ended (sign-out, disabled user), so every instance
        closes the sockets opened with them at once."""
        return f"{self.prefix}sessions-ended"

    def purge_lock(self) -> str:
        """Taken by the instance that runs the retention purge, for one purge interval, so one
        instance of many purges, once per interval, however often they restart."""
        return f"{self.prefix}retention-purge"
