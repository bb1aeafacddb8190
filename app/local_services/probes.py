"""Protocol probes: is a Redis or PostgreSQL server really answering at host:port?

Each probe speaks just enough of the wire protocol to tell the server apart from any other
program on the port, without credentials and without a client library.
"""

from __future__ import annotations

import socket
import struct

# The magic "protocol version" a client sends to ask a PostgreSQL server for TLS. Every server
# since 7.x answers it with one byte, 'S' or 'N', before any authentication, which makes it a
# cheap and exact "is this really PostgreSQL?" probe that needs no credentials and no libpq.
SSL_REQUEST_CODE = 80877103
PROTOCOL_3_0 = 196608
# SQLSTATE the server sends while it is starting up, recovering or shutting down.
CANNOT_CONNECT_NOW = "57P03"


def _read_lines(sock: socket.socket, count: int, limit: int = 4096) -> list[bytes]:
    """Read until `count` CRLF-terminated lines arrived (or EOF / limit); return them."""
    buffer = b""
    while buffer.count(b"\r\n") < count and len(buffer) < limit:
        chunk = sock.recv(limit)
        if not chunk:
            break
        buffer += chunk
    return buffer.split(b"\r\n")[:count]


def _resp_command(*words: str) -> bytes:
    """A command in RESP array form, which, unlike the inline form, survives spaces in words."""
    encoded = [word.encode() for word in words]
    out = b"*%d\r\n" % len(encoded)
    for word in encoded:
        out += b"$%d\r\n%s\r\n" % (len(word), word)
    return out


def redis_answers(
    host: str,
    port: int,
    timeout: float = 1.0,
    *,
    username: str | None = None,
    password: str | None = None,
) -> bool:
    """True when a Redis server at host:port replies +PONG to PING.

    With a password (from REDIS_URL) we AUTH first, because a Redis with `requirepass` answers
    a bare PING with -NOAUTH, which would make a perfectly good server look absent.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if password is None:
                sock.sendall(b"PING\r\n")  # RESP inline command
                replies = _read_lines(sock, 1)
            else:
                auth = ("AUTH", username, password) if username else ("AUTH", password)
                sock.sendall(_resp_command(*auth) + b"PING\r\n")
                replies = _read_lines(sock, 2)[1:]
    except OSError:
        return False
    return bool(replies) and replies[-1].startswith(b"+PONG")


def postgres_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a PostgreSQL server at host:port answers an SSLRequest with 'S' or 'N'.

    That single byte comes before any authentication, so this proves "a PostgreSQL server is
    listening" without credentials; it does not prove the server accepts logins yet (see
    `_postgres_accepts_logins` for that).
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!ii", 8, SSL_REQUEST_CODE))
            reply = sock.recv(1)
    except OSError:
        return False
    return reply in (b"S", b"N")


def _postgres_accepts_logins(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the server answers a startup packet with anything but "starting up".

    The postmaster answers SSLRequest as soon as it listens, but refuses logins with 57P03
    until recovery finished; a server we started is "ready" only after that, otherwise the
    app's first connection could fail right after we reported success.
    """
    params = b"user\x00postgres\x00database\x00postgres\x00\x00"
    packet = struct.pack("!ii", 8 + len(params), PROTOCOL_3_0) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            header = sock.recv(5)
            if len(header) < 1:
                return False
            if header[:1] == b"R":  # an authentication request: the server takes logins
                sock.sendall(b"X" + struct.pack("!i", 4))  # Terminate, to keep its log quiet
                return True
            if header[:1] != b"E":
                return False
            body = b""
            if len(header) == 5:
                length = struct.unpack("!i", header[1:5])[0] - 4
                while len(body) < length:
                    chunk = sock.recv(length - len(body))
                    if not chunk:
                        break
                    body += chunk
    except OSError:
        return False
    # An error other than "starting up" (unknown role, missing database...) still means the
    # server is up and deciding about logins, which is all we wait for.
    return f"C{CANNOT_CONNECT_NOW}\x00".encode() not in body


def postgres_trusts(host: str, port: int, user: str, timeout: float = 1.0) -> bool:
    """True when the server lets `user` in without a password (AuthenticationOk at once)."""
    params = f"user\x00{user}\x00database\x00postgres\x00\x00".encode()
    packet = struct.pack("!ii", 8 + len(params), PROTOCOL_3_0) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            header = sock.recv(9)
            trusted = len(header) == 9 and header[:1] == b"R" and header[5:9] == b"\0\0\0\0"
            if header[:1] == b"R":
                sock.sendall(b"X" + struct.pack("!i", 4))
    except OSError:
        return False
    return trusted


def _port_taken(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
