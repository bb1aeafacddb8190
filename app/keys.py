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

    def signin_account(self, username: str) -> str:
        """Sign-in failures for a username as typed (lower-cased), whether or not an account
        has it, so the limit answers alike for both (hash: failures, until). Expires a window
        after the last failure."""
        return f"{self.prefix}signin-account:{username}"

    def signin_address(self, address: str) -> str:
        """Sign-in failures from one client address (an IPv6 client's /64), across usernames;
        same fields and expiry as `signin_account`."""
        return f"{self.prefix}signin-address:{address}"

    def purge_lock(self) -> str:
        """Taken by the instance that runs the retention purge, for one purge interval, so one
        instance of many purges, once per interval, however often they restart."""
        return f"{self.prefix}retention-purge"

    def dashboard_samples(self) -> str:
        """Sorted set: the dashboard's last-hour chart, one JSON point `[at, waiting, available]`
        every 10 s, scored by time; points older than an hour are removed as new ones come."""
        return f"{self.prefix}dashboard:samples"

    def dashboard_lease(self) -> str:
        """String with a short expiry: the id of the instance that computes the dashboard for
        every instance (`app.dashboard`); renewed while it runs, taken over when it lapses."""
        return f"{self.prefix}dashboard:lease"

    def dashboard_watched(self) -> str:
        """String with a short expiry: set while any instance has a supervisor dashboard open,
        so the computing instance computes even when none is open on it."""
        return f"{self.prefix}dashboard:watched"

    def dashboard_channel(self) -> str:
        """Pub/sub channel: each computed dashboard, from the computing instance to the rest."""
        return f"{self.prefix}dashboard:frames"

    def dashboard_sample_slot(self, slot: int) -> str:
        """String with a short expiry: claims one 10-second slot of the chart for one instance,
        so each point is added once however many instances run."""
        return f"{self.prefix}dashboard:sample-slot:{slot}"
