// The message list of one room: messages with sender and time, day
// separators, join/leave notes, and the user's posts still on their way.
// Every piece of user text is set as text (see dom.js).

import { h, tint } from "./dom.js";
import { isGuestName, nameParts } from "./identity.js";
import { clock, dayKey, dayLabel, fullTime } from "./time.js";

/** Messages from one sender closer together than this are grouped. */
const GROUP_MS = 5 * 60 * 1000;

/** Words for each `via` that gets a tag; `ws` (the web app) gets none. */
const VIA_TAGS = { mqtt: "device", http: "http", uplink: "relayed" };

/**
 * The list element of one room. `me()` is the current nickname;
 * `onRetry(ref)` is called when the user asks to send a failed post again.
 */
export class MessageList {
  #room;
  #me;
  #onRetry;
  #tail = null;
  #lastSeq = 0;

  constructor(room, me, onRetry) {
    this.#room = room;
    this.#me = me;
    this.#onRetry = onRetry;
    this.topNote = h("p", { class: "top-note" });
    this.list = h("ol", { class: "messages" });
    this.pendingList = h("ol", { class: "messages pending-list" });
    this.el = h("div", { class: "thread" }, this.topNote, this.list, this.pendingList);
  }

  /** Draws every message and note again, in order. */
  rebuild() {
    const room = this.#room;
    const notices = room.notices.filter((n) => room.lo === null || n.after >= room.lo - 1);
    const items = [];
    let i = 0;
    for (const msg of room.sorted()) {
      while (i < notices.length && notices[i].after < msg.seq) items.push(notices[i++]);
      items.push(msg);
    }
    items.push(...notices.slice(i));
    this.#tail = null;
    this.#lastSeq = 0;
    const nodes = [];
    for (const item of items) nodes.push(...this.#nodes(item));
    this.list.replaceChildren(...nodes);
    this.renderPending();
    this.renderTop();
  }

  /** Shows a message that just arrived: appended if it is the newest. */
  showLive(msg) {
    if (msg.seq < this.#lastSeq) {
      this.rebuild();
      return;
    }
    this.list.append(...this.#nodes(msg));
  }

  /** Adds a join/leave note at the end. */
  note(text) {
    const notice = { notice: text, after: this.#room.latest, at: new Date() };
    this.#room.notices.push(notice);
    this.list.append(...this.#nodes(notice));
  }

  /** Draws the user's posts not yet seen as messages. */
  renderPending() {
    const items = [...this.#room.pending.values()].map((p) => pendingItem(p, this.#onRetry));
    this.pendingList.replaceChildren(...items);
  }

  /** Says what is above the oldest message shown. */
  renderTop() {
    const room = this.#room;
    let text = "";
    if (room.loadingOlder) text = "Loading older messages…";
    else if (room.top && room.lo !== null && room.lo > 1) text = "Older messages are no longer kept.";
    else if (room.top) text = `This is the start of #${room.name}.`;
    this.topNote.textContent = text;
  }

  /** The elements for one message or note, with a day separator if due. */
  #nodes(item) {
    const at = item.notice === undefined ? new Date(item.ts) : item.at;
    const nodes = [];
    const day = dayKey(at);
    if (this.#tail === null || this.#tail.day !== day) {
      nodes.push(h("li", { class: "day", role: "separator" }, h("span", {}, dayLabel(at))));
    }
    if (item.notice !== undefined) {
      nodes.push(h("li", { class: "notice" }, item.notice));
      this.#tail = { day, from: null };
      return nodes;
    }
    const tail = this.#tail;
    const continued =
      tail !== null &&
      tail.day === day &&
      tail.from === item.from &&
      tail.via === item.via &&
      at - tail.at < GROUP_MS;
    nodes.push(messageItem(item, { own: item.from === this.#me(), continued }));
    this.#tail = { day, from: item.from, via: item.via, at };
    this.#lastSeq = item.seq;
    return nodes;
  }
}

/**
 * The element for one message. `own` marks the user's own messages;
 * `continued` leaves out the name for a message that follows another from
 * the same sender.
 */
function messageItem(msg, { own = false, continued = false } = {}) {
  const at = new Date(msg.ts);
  const tag = VIA_TAGS[msg.via];
  const classes = ["msg", tint(msg.from)];
  if (own) classes.push("own");
  if (continued) classes.push("continued");
  if (msg.via === "mqtt") classes.push("device");
  if (isGuestName(msg.from)) classes.push("guest");
  const footer = h(
    "span",
    { class: "foot" },
    tag && h("span", { class: "via", title: `posted via ${msg.via}` }, tag),
    h("time", { datetime: msg.ts, title: fullTime(at) }, clock(at)),
    own && h("span", { class: "status", title: "Sent" }, "✓"),
  );
  const showName = !continued && !own;
  return h(
    "li",
    {
      class: classes.join(" "),
      data: { seq: String(msg.seq), via: msg.via, from: msg.from, status: own ? "sent" : undefined },
    },
    h("span", { class: "avatar", "aria-hidden": "true" }, showName ? initial(nameParts(msg.from).at(-1)) : ""),
    h(
      "div",
      { class: "bubble" },
      showName && h("span", { class: "from" }, ...nameParts(msg.from)),
      h("span", { class: "text" }, msg.text),
      footer,
    ),
  );
}

const STATUS_WORDS = {
  queued: "Waiting for connection…",
  sending: "Sending…",
  sent: "Sent",
  failed: "Not sent",
};

/** The element for a post on its way: queued, sending, sent or failed. */
function pendingItem(post, onRetry) {
  const status = post.state === "failed" ? "failed" : post.state === "sent" ? "sent" : "pending";
  const footer = h(
    "span",
    { class: "foot" },
    h("span", { class: "status", title: post.error ?? "" }, STATUS_WORDS[post.state]),
    post.state === "failed" &&
      h("button", { type: "button", class: "retry", on: { click: () => onRetry(post.ref) } }, "Retry"),
  );
  return h(
    "li",
    { class: `msg own ${status}`, data: { ref: post.ref, status } },
    h("span", { class: "avatar", "aria-hidden": "true" }),
    h(
      "div",
      { class: "bubble" },
      h("span", { class: "text" }, post.text),
      post.error && h("span", { class: "error" }, post.error),
      footer,
    ),
  );
}

function initial(name) {
  return [...name.trim()][0]?.toUpperCase() ?? "?";
}
