// The WebSocket to the hub, kept open: reconnects with backoff after the
// hub restarts or the network drops, and notices a dead link by pinging.

/** Waits before reconnect attempts 1, 2, 3, …; the last one repeats. */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
/** How often an idle link is checked. */
const PING_EVERY_MS = 20000;
/** How long a ping may go unanswered before the link counts as dead. */
const PONG_WITHIN_MS = 10000;

/**
 * One logical connection to the hub over a series of WebSockets.
 *
 * `handlers.open()` runs when a socket opens (send `hello` and joins there),
 * `handlers.frame(frame)` for every frame, `handlers.lost()` when a socket
 * is gone, and `handlers.state({name, retryAt, reason})` whenever the state
 * shown to the user changes: `connecting`, `online`, `retrying` (with
 * `retryAt`, a time) or `offline` (no network at all).
 */
export class Connection {
  #url;
  #handlers;
  #ws = null;
  #attempt = 0;
  #retryTimer = null;
  #pingTimer = null;
  #lastFrameAt = 0;
  #reason = "";

  constructor(url, handlers) {
    this.#url = url;
    this.#handlers = handlers;
  }

  /** Connects, and keeps connecting until the page goes away. */
  start() {
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => {
      if (!this.isOpen) this.#report("offline");
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retryNow();
    });
    this.#open();
  }

  /** Whether frames can be sent now. */
  get isOpen() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Sends one frame; false if there is no open socket. */
  send(frame) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** Skips the rest of a backoff wait. */
  retryNow() {
    if (this.#ws === null) this.#open();
  }

  #open() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (!navigator.onLine) {
      this.#report("offline");
      return;
    }
    this.#report("connecting");
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#lastFrameAt = Date.now();
      this.#report("online");
      this.#pingTimer = setInterval(() => this.#checkAlive(), PING_EVERY_MS / 2);
      this.#handlers.open();
    };
    ws.onmessage = (event) => {
      this.#lastFrameAt = Date.now();
      // The hub answered: this link works, so the next loss starts the
      // backoff from the beginning.
      this.#attempt = 0;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.#handlers.frame(frame);
    };
    ws.onclose = (event) => this.#lost(event.reason || closeWords(event.code));
    ws.onerror = () => {}; // a close event follows and says the rest
  }

  #checkAlive() {
    const quiet = Date.now() - this.#lastFrameAt;
    if (quiet >= PING_EVERY_MS + PONG_WITHIN_MS) {
      this.#lost("the hub stopped answering");
    } else if (quiet >= PING_EVERY_MS) {
      this.send({ op: "ping" });
    }
  }

  #lost(reason) {
    const ws = this.#ws;
    if (ws === null) return;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    clearInterval(this.#pingTimer);
    this.#handlers.lost();
    if (!navigator.onLine) {
      this.#report("offline", reason);
      return;
    }
    const base = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)];
    this.#attempt += 1;
    const wait = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#retryTimer = setTimeout(() => this.#open(), wait);
    this.#report("retrying", reason, Date.now() + wait);
  }

  #report(name, reason = this.#reason, retryAt = null) {
    if (name === "online") reason = "";
    this.#reason = reason;
    this.#handlers.state({ name, reason, retryAt });
  }
}

function closeWords(code) {
  if (code === 1006) return "connection lost";
  if (code === 1001) return "hub going away";
  return `closed (${code})`;
}
