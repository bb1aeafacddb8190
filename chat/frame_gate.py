"""What both sockets do with every frame before and after carrying it out: the rate limit,
parsing, error frames with the refused frame's reference, and the tally of refusals that closes
a socket on persistent abuse.

A socket gives its own `carry_out`; whatever it raises is answered here, the same way on both
sockets, and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog

from chat import frames
from chat.connection import CloseCode, Connection
from chat.rate_limit import Strikes, TokenBucket
from queueing.model import PolicyError

log = structlog.stdlib.get_logger(__name__)

CarryOut = Callable[[frames.ClientFrame], Awaitable[None]]


class FrameGate:
    """Validates, carries out and answers the frames of one connection."""

    def __init__(
        self,
        connection: Connection,
        role: frames.Role,
        bucket: TokenBucket,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._role = role
        self._bucket = bucket
        self._strikes = Strikes()
        self._clock = clock

    def send_error(self, error: frames.FrameError) -> None:
        """Send an error frame for `error`; it does not count towards closing the socket."""
        self._connection.send_error(str(error.code), frames.error_frame(error))

    def refuse(self, error: frames.FrameError) -> None:
        log.info("ws.frame_refused", role=str(self._role), code=str(error.code))
        self.send_error(error)
        if self._strikes.refused(str(error.code)):
            self._connection.close(CloseCode.POLICY_VIOLATION)

    async def handle(self, raw: str | bytes, carry_out: CarryOut) -> None:
        """Validate one frame and carry it out, answering whatever refuses it."""
        if not self._bucket.allow(self._clock()):
            self.refuse(frames.FrameError(frames.ErrorCode.RATE_LIMITED, "too many frames"))
            return
        try:
            frame = frames.parse_client_frame(raw, self._role)
        except frames.FrameError as error:
            self.refuse(error)
            return
        try:
            await carry_out(frame)
        except frames.FrameError as error:
            error.ref = frames.reference(frame)
            self.refuse(error)
            return
        except PolicyError as error:
            # A well-formed request the routing refused (an offer that just expired, say):
            # races like that are normal, so they are answered but never count as abuse.
            refused = frames.FrameError(str(error.code), error.message, frames.reference(frame))
            self.send_error(refused)
            return
        except Exception:  # a database or Redis failure: say so, keep the socket
            log.exception("ws.frame_failed", role=str(self._role))
            failed = frames.FrameError(
                frames.ErrorCode.INTERNAL,
                "the server could not do that now; try again",
                frames.reference(frame),
            )
            self.send_error(failed)
            return
        self._strikes.accepted()
