"""Random and malformed frames against both real sockets of a real server, with real Redis and
PostgreSQL: every frame is answered within 5 s, by its normal reply when it is valid and otherwise
by an error frame with exactly the code its defect calls for; a socket is closed only for
persistent abuse (1008 after twenty refused frames in a row) or by the protocol layer (1009 over
64 KiB, 1007 for a text frame that is not UTF-8); the servers log no error; and the chats' rows in
PostgreSQL and the router's view in Redis stay as they were, since the only valid frames sent are
those that change nothing (pings, resends, typing and read signals, a status the counsellor
already has). tests/support/fuzz_frames.py makes the frames and knows each one's answer;
tests/support/fuzz_sockets.py plays them.

Sockets outlive examples: the hypothesis tests are synchronous and run their coroutines on one
event loop in a thread of its own, which holds every socket. The console under test is opened once
(and again when the server closed it); a seeker's is opened for every example, since a seeker may
send a burst of 20 frames and then 5 a second.

The last tests come of defects found on the way (some fixed since): each says what it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from app.seed import DEMO_PASSWORD
from app.settings import Settings
from chat.connection import CloseCode
from chat.frames import FRAME_TYPES, MAX_FRAME_BYTES, ErrorCode, Role
from chat.rate_limit import RATE_LIMITED_WEIGHT, TokenBucket
from queueing.keys import RoutingKeys
from queueing.model import ErrorCode as RoutingCode
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.fuzz_frames import (
    MESSAGE_TOO_BIG,
    PONG,
    PROTOCOL_MAX_BYTES,
    REQUIRED,
    Answered,
    Case,
    Chats,
    Closed,
    Frame,
    Refused,
    cases,
    console_frames,
    encode,
    parse_ref,
    ping_case,
    routing,
    seeker_frames,
    stranger_frames,
    striking,
)
from tests.support.fuzz_sockets import (
    PING,
    STRIKE_LIMIT,
    Ambient,
    Fuzzed,
    LoopThread,
    Peer,
    answered,
    open_console,
    open_seeker,
)
from tests.support.server import ServerProcess
from tests.support.sockets import staff_cookie

T = TypeVar("T")

SEEKER_BURST = int(TokenBucket().burst)
SEEKER_RATE = TokenBucket().per_second
CONSOLE_RATE = Settings().counsellor_frame_rate
CONSOLE_BURST = 3 * CONSOLE_RATE  # chat/counsellor_socket.py
# Rate limited frames weigh a tenth of a strike each: this many in a row close the socket.
RATE_LIMITED_FLOOD = round(STRIKE_LIMIT / RATE_LIMITED_WEIGHT)
# The fuzzed instance lets a console send this many frames a second (the most the setting
# allows), so that only the seeker's socket and the paced instance are rate limited.
UNLIMITED_RATE = 100_000
INVALID_UTF8 = "Invalid UTF-8 sequence received from client."

FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,  # quiet_logs: once per test, not per example
    ],
)


def console_ambient(spare: str) -> Ambient:
    """A console hears the other side's signals and queue summaries at any time, and anything of
    the spare chat, which the tests of known bugs may write in."""
    return lambda frame: (
        frame["type"] in ("typing", "read", "delivered", "queue_summary")
        or frame.get("chat_id") == spare
    )


def seeker_ambient(frame: Frame) -> bool:
    """A seeker hears signals, places in line, and what follows an auth, at any time."""
    return frame["type"] in ("typing", "read", "delivered", "queue", "assigned", "synced")


# --------------------------------------------------------------------------- the scene

# The chats' records, but the spare chat's (the tests of known bugs may write in it).
RECORDS = {
    "chat_sessions": "SELECT id, state, last_seq, counsellor_id, ended_at, end_reason"
    " FROM chat_sessions WHERE id <> $1 ORDER BY id",
    "messages": "SELECT chat_id, seq, sender_role, sender_user_id, client_id, body"
    " FROM messages WHERE chat_id <> $1 ORDER BY chat_id, seq",
    "chat_notes": "SELECT id, chat_id, author_id, client_id, body"
    " FROM chat_notes WHERE chat_id <> $1 ORDER BY id",
    "wrap_ups": "SELECT chat_id, counsellor_id, category, topics, note"
    " FROM wrap_ups WHERE chat_id <> $1 ORDER BY chat_id",
}


async def routing_view(client: redis.Redis, keys: RoutingKeys) -> dict[str, Any]:
    """Every routing key and its value, but the effects stream (a log of every call, refused
    ones included) and the clock in `meta` (which every call and timer tick moves on)."""
    skip = keys.effects_stream().encode()
    names = sorted({key async for key in client.scan_iter(match=keys.pattern(), count=1000)})
    names = [name for name in names if name != skip]
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.type(name)
        kinds = await pipe.execute()
    async with client.pipeline(transaction=True) as pipe:
        for name, kind in zip(names, kinds, strict=True):
            if kind == b"hash":
                pipe.hgetall(name)
            elif kind == b"zset":
                pipe.zrange(name, 0, -1, withscores=True)
            elif kind == b"list":
                pipe.lrange(name, 0, -1)
            elif kind == b"set":
                pipe.smembers(name)
            else:
                pipe.get(name)
        values = await pipe.execute()
    view = {}
    for name, value in zip(names, values, strict=True):
        if name == keys.meta().encode():
            value.pop(b"clock", None)
        view[f"redis {name.decode()}"] = value
    return view


class Scene:
    """Two instances sharing one routing state: `fuzzed` lets consoles send without limit,
    `paced` has the default limit. Ola holds `other` and is away; Kari holds `own` and `spare`,
    ended and wrapped up `closed`, and keeps consoles open on both instances throughout (her
    desk, and the paced one), so that the console under test is never her last: closing it
    starts no grace time. `baseline` is the state nothing may change."""

    def __init__(self, loop: LoopThread, fuzzed: ServerProcess, paced: ServerProcess) -> None:
        self.loop = loop
        self.fuzzed = fuzzed
        self.paced = paced

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coroutine)

    async def set_up(self, env: RunEnvironment, prefix: str, cookie: dict[str, str]) -> None:
        url = self.fuzzed.url
        self.cookie = cookie
        self.db = await asyncpg.connect(env.database_url)
        self.redis = redis.Redis.from_url(env.redis_url)
        self.keys = RoutingKeys(prefix)
        self.ola = await open_console(url, cookie["ola"])
        await self.ola.send_frame("status", status="available")
        other, _, seeker = await answered(self.ola, url, "46")
        await seeker.close()
        await self.ola.send_frame("status", status="away")
        desk = self.desk = await open_console(url, cookie["kari"])
        self.paced_console = await open_console(self.paced.url, cookie["kari"])
        await desk.send_frame("status", status="available")

        closed, _, seeker = await answered(desk, url, "03")
        await seeker.send_frame("message", client_id="c1", text="Hei, jeg lurer på jobb.")
        await seeker.until("ack")
        await desk.send_frame("end", chat_id=closed)
        await desk.until("chat_ended", chat_id=closed)
        await desk.send_frame("wrap_up", chat_id=closed, category="other", topics=["jobb"])
        await desk.until("chat_closed", chat_id=closed)
        await seeker.close()

        own, self.own_token, seeker = await answered(desk, url, "03")
        await seeker.send_frame("message", client_id="s1", text="Hva kan jeg bli?")
        assert (await seeker.until("ack"))["seq"] == 1
        await desk.send_frame("message", chat_id=own, client_id="k1", text="Fortell mer!")
        assert (await desk.until("ack", client_id="k1"))["seq"] == 2
        await desk.send_frame("note", chat_id=own, client_id="n1", text="Usikker på valg.")
        note_id = (await desk.until("ack", client_id="n1"))["note_id"]
        await seeker.close()
        spare, self.spare_token, seeker = await answered(desk, url, "03")
        await seeker.close()

        ids = dict(await self.db.fetch("SELECT username, id::text FROM users"))
        self.chats = Chats(own, other, closed, spare, ids["kari"], ids["ola"], note_id)
        expected = {own: "active", other: "active", closed: "ended", spare: "active"}
        for _ in range(100):  # the recorder writes what the router did to PostgreSQL
            states = dict(await self.db.fetch("SELECT id::text, state FROM chat_sessions"))
            if states == expected:
                break
            await asyncio.sleep(0.1)
        assert states == expected
        self.baseline = await self.state()
        for _ in range(50):  # signals and summaries settle
            await asyncio.sleep(0.2)
            if (now := await self.state()) == self.baseline:
                break
            self.baseline = now

        ambient = console_ambient(spare)
        self.console = Fuzzed(lambda: open_console(url, cookie["kari"]), ambient, fresh=False)
        self.seeker = Fuzzed(lambda: open_seeker(url, self.own_token), seeker_ambient, fresh=True)
        # Its burst whole: after the auth, twenty frames before any is rate limited.
        self.rested_seeker = Fuzzed(
            lambda: open_seeker(url, self.own_token, rest=1.5 / SEEKER_RATE),
            seeker_ambient,
            fresh=True,
        )
        self.spare_seeker = Fuzzed(
            lambda: open_seeker(url, self.spare_token), seeker_ambient, fresh=True
        )
        self.stranger = Fuzzed(lambda: Peer.open(url, "/ws/seeker"), seeker_ambient, fresh=True)

    async def tear_down(self) -> None:
        for fuzzed in (self.console, self.seeker, self.rested_seeker, self.spare_seeker):
            await fuzzed.drop()
        await self.stranger.drop()
        for peer in (self.ola, self.desk, self.paced_console):
            await peer.close()
        await self.db.close()
        await self.redis.aclose()

    async def state(self) -> dict[str, Any]:
        """The chats' records in PostgreSQL and the router's view in Redis."""
        spare = uuid.UUID(self.chats.spare)
        found: dict[str, Any] = {}
        for table, query in RECORDS.items():
            found[table] = [tuple(row) for row in await self.db.fetch(query, spare)]
        found.update(await routing_view(self.redis, self.keys))
        return found

    def assert_unchanged(self) -> None:
        now = self.run(self.state())
        changed = sorted(
            key for key in {*self.baseline, *now} if self.baseline.get(key) != now.get(key)
        )
        assert not changed, "\n".join(
            f"{key}: {self.baseline.get(key)!r} -> {now.get(key)!r}" for key in changed
        )

    def log_marks(self) -> dict[Path, int]:
        return {s.log_path: s.log_path.stat().st_size for s in (self.fuzzed, self.paced)}

    def lines_since(self, marks: dict[Path, int]) -> list[str]:
        """What the servers logged since `marks`."""
        lines = []
        for path, mark in marks.items():
            with path.open("rb") as log:
                log.seek(mark)
                lines += log.read().decode(errors="replace").splitlines()
        return lines

    def errors_since(self, marks: dict[Path, int], allowed: Sequence[str] = ()) -> list[str]:
        """Error lines the servers logged since `marks`, but those naming an allowed event."""
        return [
            line
            for line in self.lines_since(marks)
            if ('"level": "error"' in line or '"level": "critical"' in line or "Traceback" in line)
            and not any(event in line for event in allowed)
        ]


@pytest.fixture(scope="module")
def scene(module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    prefix = f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    logs = tmp_path_factory.mktemp("fuzz")
    fuzzed_env = module_env.variables(
        EGUIDE_REDIS_PREFIX=prefix, EGUIDE_COUNSELLOR_FRAME_RATE=str(UNLIMITED_RATE)
    )
    paced_env = module_env.variables(EGUIDE_REDIS_PREFIX=prefix)
    fuzzed = ServerProcess(fuzzed_env, logs / "fuzzed.log")
    paced = ServerProcess(paced_env, logs / "paced.log")
    with contextlib.ExitStack() as stack, LoopThread() as loop:
        for server in (fuzzed, paced):
            stack.callback(server.stop)
        with ThreadPoolExecutor(2) as starting:  # a few seconds each: side by side
            list(starting.map(ServerProcess.start, (fuzzed, paced)))
        # Sessions live in the shared Redis: one cookie opens Kari's consoles on both instances.
        cookie = {name: staff_cookie(fuzzed.url, name, DEMO_PASSWORD) for name in ("kari", "ola")}
        scene = Scene(loop, fuzzed, paced)
        loop.run(scene.set_up(module_env, prefix, cookie))
        try:
            yield scene
        finally:
            loop.run(scene.tear_down())


@pytest.fixture
def quiet_logs(scene: Scene) -> Iterator[None]:
    """The servers log no error while the test runs (a failure answered `internal` still is)."""
    marks = scene.log_marks()
    yield
    errors = scene.errors_since(marks)
    assert not errors, "\n".join(errors[:20])


def noted(played: Sequence[Case]) -> Sequence[Case]:
    """Count the cases by defect and by answer (--hypothesis-show-statistics)."""
    for case in played:
        event(case.kind)
        outcome = case.outcome
        if isinstance(outcome, Refused):
            event(f"answer: {outcome.code}")
        elif isinstance(outcome, Closed):
            event(f"answer: close {outcome.code}")
        else:
            event(f"answer: {', '.join(kind for kind, _ in outcome.replies) or 'none'}")
    return played


# --------------------------------------------------------------------------- fuzzing


def test_the_generators_know_every_frame_type() -> None:
    """A frame type added to chat.frames must be added to the fuzzing too."""
    for role in Role:
        assert set(REQUIRED[role]) == FRAME_TYPES[role]


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_the_console_answers_every_frame_and_a_refused_one_changes_nothing(
    scene: Scene, quiet_logs: None, data: st.DataObject
) -> None:
    frames = cases(Role.COUNSELLOR, console_frames(scene.chats), scene.chats)
    played = noted(data.draw(st.lists(frames, min_size=1, max_size=6), label="frames"))
    scene.run(scene.console.play(played))
    scene.assert_unchanged()


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_the_seeker_socket_answers_every_frame_and_a_refused_one_changes_nothing(
    scene: Scene, quiet_logs: None, data: st.DataObject
) -> None:
    frames = cases(Role.SEEKER, seeker_frames(scene.chats), scene.chats)
    # Six frames with a ping after each at most, and the auth: within the seeker's burst.
    played = noted(data.draw(st.lists(frames, min_size=1, max_size=6), label="frames"))
    scene.run(scene.seeker.play(played))
    scene.assert_unchanged()


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_an_unauthenticated_seeker_socket_refuses_every_frame_but_a_valid_auth(
    scene: Scene, quiet_logs: None, data: st.DataObject
) -> None:
    frames = cases(Role.SEEKER, stranger_frames(scene.chats), scene.chats)
    played = noted(data.draw(st.lists(frames, min_size=1, max_size=6), label="frames"))
    scene.run(scene.stranger.play(played))
    scene.assert_unchanged()


def test_a_seeker_socket_takes_its_auth_after_refused_frames_and_closes_on_a_wrong_token(
    scene: Scene, quiet_logs: None
) -> None:
    chats = scene.chats
    scene.run(
        scene.stranger.play(
            [
                Case("ping first", PING, Refused(ErrorCode.NOT_AUTHENTICATED)),
                Case(
                    "message first",
                    encode({"type": "message", "client_id": "m1", "text": "Hei"}),
                    Refused(ErrorCode.NOT_AUTHENTICATED, ref="m1"),
                ),
                Case(
                    "auth",
                    encode({"type": "auth", "token": scene.own_token, "last_seq": 2}),
                    Answered((("welcome", {"chat_id": chats.own, "state": "active"}),)),
                ),
                ping_case(),
            ]
        )
    )
    wrong = encode({"type": "auth", "token": secrets.token_urlsafe(32)})
    closes = CloseCode.NOT_AUTHENTICATED
    scene.run(
        scene.stranger.play(
            [Case("wrong token", wrong, Refused(ErrorCode.BAD_TOKEN, strike=False, closes=closes))]
        )
    )
    assert scene.stranger.closed_with[-1] == closes
    scene.assert_unchanged()


# --------------------------------------------------------------------------- abuse and limits


@pytest.mark.parametrize("who", ["console", "seeker", "stranger"])
# Which refused frames were drawn never decides this test: shrinking them would only take long.
@settings(FUZZ, max_examples=3, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_twenty_refused_frames_in_a_row_close_the_socket_with_1008(
    scene: Scene, quiet_logs: None, who: str, data: st.DataObject
) -> None:
    chats = scene.chats
    role = Role.COUNSELLOR if who == "console" else Role.SEEKER
    frames = {"console": console_frames, "seeker": seeker_frames, "stranger": stranger_frames}
    refused = cases(role, frames[who](chats), chats).filter(striking)

    def refusals(count: int) -> list[Case]:
        return data.draw(st.lists(refused, min_size=count, max_size=count))

    if who == "console":
        # A valid frame clears the tally: 19 refused, a ping, and only the next 20 close it.
        played = [*refusals(STRIKE_LIMIT - 1), ping_case(), *refusals(STRIKE_LIMIT)]
        fuzzed = scene.console
    else:
        played = refusals(STRIKE_LIMIT)  # a seeker's burst is 20 frames
        fuzzed = scene.rested_seeker if who == "seeker" else scene.stranger
    closes = len(fuzzed.closed_with)
    scene.run(fuzzed.play(noted(played)))
    assert fuzzed.closed_with[closes:] == [CloseCode.POLICY_VIOLATION]
    scene.assert_unchanged()


def test_routing_refusals_never_count_as_abuse(scene: Scene, quiet_logs: None) -> None:
    other = scene.chats.other
    accept = Case(
        "accept",
        encode({"type": "accept", "chat_id": other}),
        routing(RoutingCode.OFFER_NOT_YOURS, other),
    )
    scene.run(scene.console.play([accept] * (2 * STRIKE_LIMIT) + [ping_case()]))
    scene.assert_unchanged()


async def pings(peer: Peer, count: int, ambient: Ambient) -> tuple[list[str], float, Closed | None]:
    """Send `count` pings at once: what each got ('pong' or an error code) in order, how long
    that took, and the close if the server closed the socket."""
    started = time.monotonic()
    for _ in range(count):
        await peer.send(PING)
    answers: list[str] = []
    while len(answers) < count:
        item = await peer.next(ambient)
        if isinstance(item, Closed):
            return answers, time.monotonic() - started, item
        answers.append(item["code"] if item["type"] == "error" else item["type"])
    return answers, time.monotonic() - started, None


def assert_rate_limited(answers: list[str], took: float, burst: int, rate: float) -> None:
    """The burst is answered; then frames are refused but for those the time refilled."""
    assert answers[:burst] == ["pong"] * burst
    assert set(answers[burst:]) <= {"pong", ErrorCode.RATE_LIMITED}
    assert ErrorCode.RATE_LIMITED in answers
    assert answers.count("pong") <= burst + int(took * rate) + 1


def test_frames_over_the_rate_are_refused_and_a_stream_of_them_closes_the_socket(
    scene: Scene, quiet_logs: None
) -> None:
    async def limits() -> None:
        seeker = await open_seeker(scene.fuzzed.url, scene.own_token, rest=1.5 / SEEKER_RATE)
        answers, took, closed = await pings(seeker, SEEKER_BURST + 10, seeker_ambient)
        assert closed is None
        assert_rate_limited(answers, took, SEEKER_BURST, SEEKER_RATE)
        await asyncio.sleep(2 / SEEKER_RATE)
        assert (await pings(seeker, 1, seeker_ambient))[0] == ["pong"], "tokens come back"
        # Rate limited frames are flow control, not abuse: only a flood of them closes.
        flood = SEEKER_BURST + 2 * RATE_LIMITED_FLOOD
        answers, _, closed = await pings(seeker, flood, seeker_ambient)
        assert closed == Closed(CloseCode.POLICY_VIOLATION)
        accepted = [n for n, answer in enumerate(answers) if answer == "pong"]
        tail = answers[(accepted[-1] + 1 if accepted else 0) :]
        assert tail == [ErrorCode.RATE_LIMITED] * RATE_LIMITED_FLOOD
        await seeker.close()

        console = scene.paced_console  # Kari's console on the instance with the default limit
        console.clear()
        answers, took, closed = await pings(console, CONSOLE_BURST + 10, console_ambient(""))
        assert closed is None
        assert_rate_limited(answers, took, CONSOLE_BURST, CONSOLE_RATE)
        await asyncio.sleep(2 / CONSOLE_RATE)
        assert (await pings(console, 1, console_ambient("")))[0] == ["pong"]

    scene.run(limits())
    scene.assert_unchanged()


def test_frame_sizes_at_the_limits_and_frames_only_the_protocol_layer_refuses(
    scene: Scene,
) -> None:
    def padded(size: int) -> str:
        return PING[:-1] + " " * (size - len(PING)) + "}"

    at_limits = [
        Case("32 KiB", padded(MAX_FRAME_BYTES), PONG),
        Case("32 KiB + 1", padded(MAX_FRAME_BYTES + 1), Refused(ErrorCode.FRAME_TOO_LARGE)),
        Case("64 KiB", padded(PROTOCOL_MAX_BYTES), Refused(ErrorCode.FRAME_TOO_LARGE)),
        Case("64 KiB + 1", padded(PROTOCOL_MAX_BYTES + 1), Closed(MESSAGE_TOO_BIG)),
        Case("64 KiB + 1, binary", b" " * (PROTOCOL_MAX_BYTES + 1), Closed(MESSAGE_TOO_BIG)),
        ping_case(),
    ]

    async def not_utf8(opener: Callable[[], Awaitable[Peer]], ambient: Ambient) -> None:
        peer = await opener()
        await peer.send(b"\x7b\xff\xfe\x7d", text=True)  # a text frame must be UTF-8
        assert await peer.next(ambient) == Closed(1007)
        await peer.close()

    marks = scene.log_marks()
    for fuzzed in (scene.console, scene.rested_seeker):
        scene.run(fuzzed.play(at_limits))
    url = scene.fuzzed.url
    ambient = console_ambient(scene.chats.spare)
    scene.run(not_utf8(lambda: open_console(url, scene.cookie["kari"]), ambient))
    scene.run(not_utf8(lambda: open_seeker(url, scene.own_token), seeker_ambient))
    scene.run(not_utf8(lambda: Peer.open(url, "/ws/seeker"), seeker_ambient))
    scene.run(scene.console.play([ping_case()]))  # still serving
    scene.assert_unchanged()
    # The protocol layer logs an invalid text frame as an error of its own; nothing else may.
    assert not scene.errors_since(marks, allowed=[INVALID_UTF8])


# --------------------------------------------------------------------------- defects found


def fields_case(kind: str, fields: Frame) -> Case:
    """A frame that must be refused as a bad field (as chat.frames refuses, naming its id)."""
    return Case(kind, encode(fields), Refused(ErrorCode.BAD_FIELD, ref=parse_ref(fields)))


def bad(name: str, who: str, frame_type: str, **fields: Any) -> Any:
    return pytest.param(who, {"type": frame_type, **fields}, id=name)


UNSTORABLE = [
    bad("nul", "seeker", "message", client_id="u1", text="a\x00b"),
    bad("surrogate", "seeker", "message", client_id="u2", text="\ud800"),
    bad("auth-surrogate", "stranger", "auth", token="tok\udfffen"),
    bad("console-nul", "console", "message", chat_id="{spare}", client_id="u3", text="a\x00"),
    bad("note-surrogate", "console", "note", chat_id="{spare}", client_id="u4", text="\udfff"),
    bad("wrap-up-nul", "console", "wrap_up", chat_id="{closed}", category="other", note="a\x00"),
    bad("topic-surrogate", "console", "wrap_up", chat_id="{closed}", category="other",
        topics=["\ud83d"]),
]  # fmt: skip
TRAILING_NEWLINE = [
    bad("client-id", "seeker", "message", client_id="nl\n", text="Hei"),
    bad("message-chat-id", "console", "message", chat_id="{spare}\n", client_id="u5", text="Hei"),
    bad("accept-chat-id", "console", "accept", chat_id="{own}\n"),
    bad("typing-chat-id", "console", "typing", chat_id="{own}\n", active=True),
    bad("wrap-up-chat-id", "console", "wrap_up", chat_id="{closed}\n", category="other"),
    bad("resume-chat-id", "console", "resume", last_seqs={"{own}\n": 0}),
    bad("queue", "console", "transfer", chat_id="{spare}", queue="03\n"),
    bad("counsellor-id", "console", "transfer", chat_id="{spare}", counsellor_id="{kari}\n"),
]  # fmt: skip


def with_ids(scene: Scene, value: Any) -> Any:
    """The frame with the scene's ids put in for {own}, {spare}, {closed} and {kari}."""
    chats = scene.chats
    names = {"own": chats.own, "spare": chats.spare, "closed": chats.closed, "kari": chats.kari}
    if isinstance(value, str):
        for name, found in names.items():
            value = value.replace("{" + name + "}", found)
        return value
    if isinstance(value, dict):
        return {with_ids(scene, key): with_ids(scene, item) for key, item in value.items()}
    return value


def refuse(scene: Scene, who: str, fields: Frame, kind: str) -> None:
    fuzzed = {"seeker": scene.spare_seeker, "stranger": scene.stranger, "console": scene.console}
    cases = [fields_case(kind, with_ids(scene, fields))]
    if who != "stranger":  # a socket not yet authenticated answers nothing but `auth`
        cases.append(ping_case())
    scene.run(fuzzed[who].play(cases))
    scene.assert_unchanged()


@pytest.mark.parametrize(("who", "fields"), UNSTORABLE)
def test_text_postgresql_cannot_store_is_refused_as_a_bad_field(
    scene: Scene, who: str, fields: Frame
) -> None:
    """NUL and lone surrogates are valid JSON escapes that PostgreSQL cannot store: they are
    refused with the frame, as the client's error, never answered `internal` (a failure to retry,
    which is no strike) after the database refused them."""
    refuse(scene, who, fields, "unstorable text")


@pytest.mark.parametrize(("who", "fields"), TRAILING_NEWLINE)
def test_ids_with_a_trailing_newline_are_refused_as_a_bad_field(
    scene: Scene, who: str, fields: Frame
) -> None:
    """`re.match` with `$` lets an id through with a newline after it: a message is stored under
    such a client id, a chat id so reaches `uuid.UUID` (answered `internal`) or the router."""
    refuse(scene, who, fields, "trailing newline")


def test_a_text_frame_that_is_not_utf8_leaves_its_words_out_of_the_logs(scene: Scene) -> None:
    """A client that cuts a character in two sends a text frame that is not UTF-8. The protocol
    layer logs the decoding error, and the log renders it by its repr, which holds the whole
    frame: the seeker's words in the server's log. Nothing may ever log message text."""
    words = "Jeg har det vondt hjemme"
    frame = encode({"type": "message", "client_id": "cut", "text": words + " x"})
    cut = frame.encode()[: -len('x"}')] + b'\xc3"}'  # half of a two-byte character

    async def send_cut() -> None:
        peer = await Peer.open(scene.fuzzed.url, "/ws/seeker")
        await peer.send(cut, text=True)
        assert await peer.next(seeker_ambient) == Closed(1007)
        await peer.close()

    marks = scene.log_marks()
    scene.run(send_cut())
    leaked = [line for line in scene.lines_since(marks) if words in line]
    assert not leaked, leaked


def test_closing_a_console_on_one_instance_keeps_the_counsellor_connected_on_another(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each instance counts only its own consoles: closing a counsellor's last console on one
    instance starts their grace time even while they work at a console on another, and when it
    runs out they are set offline and their chats requeued. (The scene keeps a console of Kari's
    open on each instance for this reason.) The grace time must start with their last console
    anywhere."""
    grace = 1
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_COUNSELLOR_GRACE_SECONDS=str(grace),
    )
    logs = tmp_path_factory.mktemp("grace")
    servers = [ServerProcess(env, logs / f"{name}.log") for name in ("staying", "leaving")]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
        with ThreadPoolExecutor(2) as starting:
            list(starting.map(ServerProcess.start, servers))
        cookie = staff_cookie(servers[0].url, "ingrid", DEMO_PASSWORD)

        async def close_one() -> Frame | None:
            staying = await open_console(servers[0].url, cookie)
            leaving = await open_console(servers[1].url, cookie)
            await staying.send_frame("status", status="available")
            await staying.until("status", status="available")
            await leaving.close()
            try:
                # Past the grace time and the timer that ends it.
                return await staying.until("status", within=grace + 2, status="offline")
            except TimeoutError:
                return None
            finally:
                await staying.close()

        dropped = run_sync(close_one())
    assert dropped is None, f"the console still open was told {dropped}"
