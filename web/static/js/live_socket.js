// A WebSocket that comes back by itself, and resends what was not acknowledged.
//
// The server's protocol is in docs/protocol.md. This module knows only its envelope: every frame
// is {"v": 1, "type": ...}; a message-like frame carries a client_id and stays in the outbox until
// an `ack` with that client_id arrives, and is sent again, in order, after every reconnect (the
// server stores a resend once). Reconnects back off from half a second to fifteen seconds, with
// jitter so a restarted server is not met by every client at once. A close that means "you may
// not" (not signed in, forbidden, session ended, abuse) is final.
//
// The browser's own word about the network is taken too: going offline drops the socket at once
// (a socket on a dead network can take minutes to notice), and coming back online reconnects at
// once instead of waiting out the backoff.

export const PROTOCOL_VERSION = 1;

const FINAL_CLOSE_CODES = new Set([1008, 4401, 4403, 4410]);
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// An application ping every PING_MS; no frame at all within DEAD_MS means the connection is
// dead without having said so (a phone that changed network), and it is replaced.
const PING_MS = 20000;
const DEAD_MS = 45000;

export function newClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class LiveSocket {
  // url: ws(s) URL; handlers: { open(socket), frame(frame), state(name, detail) }.
  // `open` runs on every (re)connection before the outbox is resent: authenticate or resume there.
  // States: "connecting", "open" (after `ready()`), "reconnecting", "closed" (final).
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.outbox = new Map();
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.lastHeard = 0;
    this.timer = null;
    this.retry = null;
    this.wentOffline = () => this.drop();
    this.cameOnline = () => this.reconnectNow();
    window.addEventListener("offline", this.wentOffline);
    window.addEventListener("online", this.cameOnline);
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = null;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      this.handlers.open(this);
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ack" && frame.client_id) this.outbox.delete(frame.client_id);
      if (frame.type === "pong") return;
      this.handlers.frame(frame);
    });
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
    clearInterval(this.timer);
    this.timer = setInterval(() => this.keepAlive(socket), PING_MS);
  }

  // Called by the page once the server accepted the (re)connection (welcome or hello).
  ready() {
    this.attempt = 0;
    this.setState("open");
    for (const frame of this.outbox.values()) this.raw(frame);
  }

  isOpen() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  send(type, fields = {}) {
    return this.raw({ v: PROTOCOL_VERSION, type, ...fields });
  }

  // A frame that must arrive: kept until acknowledged, resent after a reconnect. A client_id in
  // `fields` is kept (a frame carried over from before a page reload keeps its identity, so the
  // server still stores it once).
  sendReliably(type, fields = {}) {
    const frame = { v: PROTOCOL_VERSION, type, client_id: newClientId(), ...fields };
    this.outbox.set(frame.client_id, frame);
    this.raw(frame);
    return frame.client_id;
  }

  // Send an unacknowledged frame again now (after the server said "not now"), if connected.
  resend(clientId) {
    const frame = this.outbox.get(clientId);
    return frame ? this.raw(frame) : false;
  }

  // Give up on a frame the server refused for good.
  forget(clientId) {
    this.outbox.delete(clientId);
  }

  raw(frame) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  keepAlive(socket) {
    if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > DEAD_MS) {
      this.drop();
      return;
    }
    this.send("ping");
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.timer);
    if (this.stopped || FINAL_CLOSE_CODES.has(code)) {
      this.stopped = true;
      this.unlisten();
      this.setState("closed", code);
      return;
    }
    this.scheduleReconnect(code);
  }

  scheduleReconnect(code) {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting", code);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), base / 2 + Math.random() * base);
  }

  // Give up on the current connection without waiting for it to say it is closed (on a dead
  // network the closing handshake never completes), and reconnect.
  drop() {
    const socket = this.socket;
    if (this.stopped || !socket || this.retry !== null) return;
    this.socket = null;
    clearInterval(this.timer);
    try {
      socket.close();
    } catch {
      // already closing
    }
    this.scheduleReconnect(1006);
  }

  reconnectNow() {
    if (this.stopped || this.isOpen()) return;
    if (this.socket && this.socket.readyState === WebSocket.CONNECTING) return;
    this.socket = null;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.unlisten();
    if (this.socket) this.socket.close(1000);
  }

  unlisten() {
    window.removeEventListener("offline", this.wentOffline);
    window.removeEventListener("online", this.cameOnline);
  }

  setState(name, detail) {
    if (this.handlers.state) this.handlers.state(name, detail);
  }
}

export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
