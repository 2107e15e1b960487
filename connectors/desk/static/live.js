// Live updates: one WebSocket per tab, reconnected with exponential backoff, a ping every
// 30 s (the server counts the agent as present). The token is the socket's first frame,
// never part of its URL; the socket is live once the server answers "ready" (it subscribed
// this socket first), and after a reconnection the page then re-reads the list (events may
// have been missed while offline).

import { liveUrl, token } from "./api.js";

const PING_EVERY_MS = 30_000;
const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

export class Live {
  constructor({ onEvent, onStatus, onResync, onAuthFailed }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onResync = onResync;
    this.onAuthFailed = onAuthFailed;
    this.socket = null;
    this.stopped = true;
    this.backoff = BACKOFF_START_MS;
    this.pingTimer = null;
    this.retryTimer = null;
    this.connectedOnce = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "logout");
      this.socket = null;
    }
    this.onStatus("off");
  }

  connect() {
    if (this.stopped) return;
    this.onStatus("connecting");
    let socket;
    try {
      socket = new WebSocket(liveUrl());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      // Within the server's deadline (5 s), or it closes the socket with 4401.
      this.send({ type: "auth", token: token() || "" });
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!event || typeof event.type !== "string" || event.type === "pong") return;
      if (event.type === "ready") this.ready();
      this.onEvent(event);
    };
    socket.onclose = (closed) => {
      clearInterval(this.pingTimer);
      this.socket = null;
      if (this.stopped) return;
      // 4401 / 1008: the server refused the token; reconnecting would not help.
      if (closed.code === 4401 || closed.code === 4403 || closed.code === 1008) {
        this.onAuthFailed(closed.reason); // the server's close reason is an error code
        return;
      }
      this.scheduleReconnect();
    };
    socket.onerror = () => {
      /* onclose follows */
    };
  }

  ready() {
    // Only an authenticated socket resets the backoff: one the server closes right away
    // (a restart, a refusal) keeps slowing the retries down.
    this.backoff = BACKOFF_START_MS;
    this.onStatus("live");
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
    if (this.connectedOnce) this.onResync();
    this.connectedOnce = true;
  }

  scheduleReconnect() {
    this.onStatus("reconnecting");
    clearTimeout(this.retryTimer);
    const wait = this.backoff + Math.floor(Math.random() * 400);
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }
}
