// The chat itself: speaks the hub's WebSocket protocol (docs/protocol.md)
// for every room this browser is in, and keeps the open room on screen.

import { Connection } from "./connection.js";
import { byId } from "./dom.js";
import { hello } from "./identity.js";
import { MessageList } from "./messages.js";
import { Room } from "./room.js";
import { RoomsView } from "./rooms-view.js";
import { ROOM_NAME, utf8Bytes } from "./rules.js";
import * as saved from "./saved.js";
import { Badge, drawRoom, emptyState, toast } from "./screen.js";
import { Viewport } from "./viewport.js";

/** Older messages asked for at a time while scrolling back. */
const PAGE = 50;
/** Messages asked for at a time while filling a gap (the hub's maximum). */
const GAP_PAGE = 500;
/** A post unanswered this long on an open connection has failed. */
const ACK_WITHIN_MS = 10000;
/** A typing note stays this long unless renewed. */
const TYPING_SHOWN_MS = 4000;
/** The user's typing is announced at most this often per room. */
const TYPING_EVERY_MS = 2500;
/** How often the room list is refreshed. */
const ROOM_LIST_EVERY_MS = 15000;

/**
 * The chat of one identity; `start()` connects. `onLost()`, if given, runs
 * whenever the connection is lost (the app checks whether the sign-in still
 * holds).
 */
export class Chat {
  #identity;
  /** The name in force, as the hub's `welcome` said (a guest's has `guest:`). */
  #name = null;
  #lostHook;
  #saved;
  #conn;
  /** name -> Room, in the order joined. */
  #rooms = new Map();
  /** name -> MessageList. */
  #lists = new Map();
  #active = null;
  #maxBytes = 16384;
  #hubRooms = [];
  /** Questions the hub answers in order (hello, join, leave, history). */
  #asked = [];
  #lastTyping = new Map();
  #drawTimer = null;
  #saveTimer = null;
  #refSeed = randomId();
  #refCount = 0;
  #roomsView;
  #view;
  #badge;

  constructor(identity, onLost = () => {}) {
    this.#identity = identity;
    this.#lostHook = onLost;
    this.#saved = saved.load();
    this.#roomsView = new RoomsView(byId("my-rooms"), byId("hub-rooms"), byId("hub-rooms-heading"), (name) =>
      this.open(name),
    );
    this.#view = new Viewport(byId("scroller"), () => this.#onScroll());
    this.#badge = new Badge(byId("conn"));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.#conn = new Connection(`${scheme}//${location.host}/ws`, {
      open: () => this.#onOpen(),
      frame: (f) => this.#onFrame(f),
      lost: () => this.#onLost(),
      state: (s) => {
        this.#badge.show(s);
        this.#draw();
      },
    });
    byId("new-pill").addEventListener("click", () => {
      this.#view.toBottom();
      this.#markRead();
    });
    document.addEventListener("visibilitychange", () => this.#markRead());
    window.addEventListener("pagehide", () => this.#save());
  }

  /** The name in force (the chosen nickname until the hub says otherwise). */
  get nick() {
    return this.#name ?? this.#identity.nick;
  }

  /** Rejoins the remembered rooms, connects, and opens the room in the URL or the last one. */
  start() {
    for (const name of this.#saved.rooms) if (ROOM_NAME.test(name)) this.#add(name);
    this.#conn.start();
    this.#refreshRoomList();
    setInterval(() => this.#refreshRoomList(), ROOM_LIST_EVERY_MS);
    window.addEventListener("focus", () => this.#refreshRoomList());
    // A link to http://hub/#kitchen opens (and joins) #kitchen.
    window.addEventListener("hashchange", () => {
      const name = roomInUrl();
      if (name !== null && name !== this.#active) this.open(name);
    });
    const first = roomInUrl() ?? this.#saved.active;
    if (first !== null && ROOM_NAME.test(first)) this.open(first);
    else this.#showNoRoom();
  }

  /** Opens a room, joining it first if needed. */
  open(name) {
    if (!this.#rooms.has(name)) {
      this.#add(name);
      this.#sendJoin(this.#rooms.get(name));
    }
    this.#active = name;
    this.#view.show(this.#lists.get(name).el);
    history.replaceState(null, "", `#${name}`);
    document.body.classList.remove("drawer-open");
    this.#save();
    this.#changed(this.#rooms.get(name));
    this.#loadOlderIfNeeded();
  }

  /** Leaves the open room. */
  leave() {
    const name = this.#active;
    if (name === null) return;
    if (this.#conn.isOpen) this.#ask({ op: "leave", room: name });
    this.#forget(name);
  }

  /** Posts to the open room; returns what is wrong in words, or null. */
  post(text) {
    const room = this.#rooms.get(this.#active);
    if (!room || text.trim() === "") return "";
    const bytes = utf8Bytes(text);
    if (bytes > this.#maxBytes) return `Too long: ${bytes} bytes, the hub takes at most ${this.#maxBytes}.`;
    this.#refCount += 1;
    const post = { ref: `${this.#refSeed}-${this.#refCount}`, text, state: "queued", error: null, timer: null };
    room.pending.set(post.ref, post);
    this.#transmit(room, post);
    this.#lists.get(room.name).renderPending();
    this.#view.toBottom();
    this.#changed(room);
    return null;
  }

  /** Sends a failed post again, with the same `ref`, so it is stored once. */
  retry(ref) {
    for (const room of this.#rooms.values()) {
      const post = room.pending.get(ref);
      if (post?.state !== "failed") continue;
      post.error = null;
      this.#transmit(room, post);
      this.#lists.get(room.name).renderPending();
    }
  }

  /** Says the user is typing in the open room (at most every few seconds). */
  typing() {
    const room = this.#rooms.get(this.#active);
    if (!room?.joined) return;
    if (Date.now() - (this.#lastTyping.get(room.name) ?? 0) < TYPING_EVERY_MS) return;
    this.#lastTyping.set(room.name, Date.now());
    this.#conn.send({ op: "typing", room: room.name });
  }

  /** Reconnects now instead of at the end of the backoff wait. */
  retryNow() {
    this.#conn.retryNow();
  }

  // ---- the connection ----------------------------------------------------

  #onOpen() {
    this.#asked = [];
    this.#ask(hello(this.#identity));
    for (const room of this.#rooms.values()) this.#sendJoin(room);
    this.#refreshRoomList();
  }

  #onLost() {
    this.#asked = [];
    for (const room of this.#rooms.values()) {
      room.joined = false;
      room.loadingOlder = false;
      for (const timer of room.typing.values()) clearTimeout(timer);
      room.typing.clear();
      for (const post of room.pending.values()) {
        clearTimeout(post.timer);
        if (post.state === "sending") post.state = "queued";
      }
      this.#lists.get(room.name).renderPending();
    }
    this.#draw();
    this.#lostHook();
  }

  /** Sends a frame the hub answers in order; `meta` is kept for the answer. */
  #ask(frame, meta = {}) {
    if (this.#conn.send(frame)) this.#asked.push({ ...frame, ...meta });
  }

  /** Takes the oldest question still open, expected to be `op`. */
  #answered(op) {
    const asked = this.#asked.shift();
    if (asked?.op !== op) console.warn("hubbub: expected an answer to", asked?.op, "got one to", op);
    return asked;
  }

  #sendJoin(room) {
    room.joined = false;
    const frame = { op: "join", room: room.name };
    if (room.epoch !== null) {
      // Resume: everything after what this page has, in the same history.
      frame.since = room.hi;
      frame.epoch = room.epoch;
    }
    this.#ask(frame);
  }

  #transmit(room, post) {
    clearTimeout(post.timer);
    if (room.joined && this.#conn.send({ op: "post", room: room.name, text: post.text, ref: post.ref })) {
      post.state = "sending";
      post.timer = setTimeout(() => this.#fail(room, post, "No answer from the hub."), ACK_WITHIN_MS);
    } else {
      post.state = "queued";
    }
  }

  #fail(room, post, why) {
    clearTimeout(post.timer);
    post.state = "failed";
    post.error = why;
    this.#lists.get(room.name).renderPending();
  }

  #onFrame(f) {
    const room = typeof f.room === "string" ? this.#rooms.get(f.room) : undefined;
    switch (f.type) {
      case "welcome":
        this.#answered("hello");
        this.#name = f.nick;
        this.#maxBytes = f.max_message_bytes;
        break;
      case "joined": {
        const asked = this.#answered("join");
        if (room) this.#joined(room, f, asked?.since);
        break;
      }
      case "message":
        if (room?.live(f)) this.#arrived(room, f);
        break;
      case "gap":
        // After a reset the replay is not wanted, and neither is its gap.
        if (room && room.dropThrough < f.to_seq) {
          room.gapTo = f.to_seq;
          this.#ask({ op: "history", room: room.name, after: room.hi, limit: GAP_PAGE }, { kind: "gap" });
        }
        break;
      case "history": {
        const asked = this.#answered("history");
        if (room && asked) this.#historyPage(room, f.messages, asked);
        break;
      }
      case "ack":
        if (room) this.#acked(room, f);
        break;
      case "presence":
        if (room) this.#presence(room, f.who, f.state === "join");
        break;
      case "typing":
        if (room) this.#typingSeen(room, f.who);
        break;
      case "left":
        this.#answered("leave");
        break;
      case "error":
        this.#refused(f);
        break;
    }
  }

  #joined(room, f, since) {
    const list = this.#lists.get(room.name);
    if (room.joinedAs(f, since)) list.rebuild();
    for (const post of room.pending.values()) if (post.state === "queued") this.#transmit(room, post);
    list.renderPending();
    list.renderTop();
    this.#changed(room);
    this.#loadOlderIfNeeded();
  }

  #arrived(room, msg) {
    this.#settle(room, msg);
    clearTimeout(room.typing.get(msg.from));
    room.typing.delete(msg.from);
    this.#lists.get(room.name).showLive(msg);
    this.#changed(room);
  }

  /** A message that is one of the user's posts ends that post's wait. */
  #settle(room, msg) {
    const post = msg.ref === undefined ? undefined : room.pending.get(msg.ref);
    if (post === undefined || msg.from !== this.nick) return;
    clearTimeout(post.timer);
    room.pending.delete(msg.ref);
    this.#lists.get(room.name).renderPending();
  }

  #acked(room, f) {
    const post = room.pending.get(f.ref);
    if (post === undefined) return;
    clearTimeout(post.timer);
    // Already shown, or (a repeat of an old post) older than what is shown;
    // otherwise the message itself is still on its way.
    if (room.messages.has(f.seq) || f.seq <= room.hi) room.pending.delete(f.ref);
    else post.state = "sent";
    this.#lists.get(room.name).renderPending();
  }

  #historyPage(room, messages, asked) {
    if (asked.kind === "gap") {
      const next = room.gapPage(messages);
      if (next !== null) this.#ask({ op: "history", room: room.name, after: next, limit: GAP_PAGE }, { kind: "gap" });
    } else {
      room.older(messages, asked.limit);
    }
    for (const msg of messages) this.#settle(room, msg);
    const list = this.#lists.get(room.name);
    if (room.name === this.#active) this.#view.keepPlace(() => list.rebuild());
    else list.rebuild();
    this.#changed(room);
    this.#loadOlderIfNeeded();
  }

  #presence(room, who, joined) {
    if (joined === room.online.has(who)) return;
    if (joined) room.online.add(who);
    else room.online.delete(who);
    this.#lists.get(room.name).note(`${who} ${joined ? "joined" : "left"}`);
    this.#changed(room);
  }

  #typingSeen(room, who) {
    clearTimeout(room.typing.get(who));
    const clear = () => {
      room.typing.delete(who);
      this.#draw();
    };
    room.typing.set(who, setTimeout(clear, TYPING_SHOWN_MS));
    this.#draw();
  }

  #refused(f) {
    if (f.ref !== undefined) {
      for (const room of this.#rooms.values()) {
        const post = room.pending.get(f.ref);
        if (post) this.#fail(room, post, f.message);
      }
      return;
    }
    const asked = this.#answered(this.#asked[0]?.op);
    if (asked?.op === "join" && this.#rooms.has(asked.room)) {
      toast(`Can’t join #${asked.room}: ${f.message}`);
      this.#forget(asked.room);
      return;
    }
    if (asked?.op === "history") {
      const room = this.#rooms.get(asked.room);
      if (room) room.loadingOlder = false;
    }
    toast(f.message);
  }

  // ---- the rooms on screen -----------------------------------------------

  #add(name) {
    const room = new Room(name, this.#saved.read[name]);
    this.#rooms.set(name, room);
    const list = new MessageList(room, () => this.nick, (ref) => this.retry(ref));
    this.#lists.set(name, list);
    list.rebuild();
    this.#save();
  }

  #forget(name) {
    this.#rooms.delete(name);
    this.#lists.delete(name);
    if (this.#active === name) {
      this.#active = null;
      const next = this.#rooms.keys().next();
      if (next.done) this.#showNoRoom();
      else this.open(next.value);
    }
    this.#save();
    this.#draw();
  }

  #showNoRoom() {
    this.#active = null;
    history.replaceState(null, "", location.pathname);
    this.#view.show(emptyState());
    this.#draw();
  }

  #onScroll() {
    this.#loadOlderIfNeeded();
    this.#markRead();
    this.#draw();
  }

  #markRead() {
    const room = this.#rooms.get(this.#active);
    if (!room || !this.#view.stuck || document.visibilityState === "hidden") return;
    if (room.markRead()) {
      this.#saveSoon();
      this.#draw();
    }
  }

  #loadOlderIfNeeded() {
    const room = this.#rooms.get(this.#active);
    if (!room?.joined || room.top || room.loadingOlder || !this.#view.nearTop) return;
    const before = room.lo ?? room.hi + 1;
    if (before <= 1) {
      room.top = true;
    } else {
      room.loadingOlder = true;
      this.#ask({ op: "history", room: room.name, before, limit: PAGE }, { kind: "older" });
    }
    this.#lists.get(room.name).renderTop();
  }

  /** Something in `room` changed: the open room follows new messages. */
  #changed(room) {
    if (room.name === this.#active) {
      this.#view.follow();
      this.#markRead();
    }
    this.#draw();
  }

  /** Redraws everything but the message lists, soon (once per burst). */
  #draw() {
    if (this.#drawTimer !== null) return;
    this.#drawTimer = setTimeout(() => {
      this.#drawTimer = null;
      const room = this.#rooms.get(this.#active) ?? null;
      let others = 0;
      for (const r of this.#rooms.values()) if (r !== room) others += r.unread;
      drawRoom(room, this.nick, this.#view.stuck, others, others + (room?.unread ?? 0));
      this.#roomsView.render(this.#rooms, this.#active, this.#hubRooms, this.#readPositions());
    }, 16);
  }

  async #refreshRoomList() {
    try {
      const reply = await fetch("/api/rooms", { cache: "no-store" });
      if (!reply.ok) return;
      this.#hubRooms = (await reply.json()).rooms ?? [];
      this.#draw();
    } catch {
      // The hub is out of reach: the badge already says so.
    }
  }

  #readPositions() {
    const read = { ...this.#saved.read };
    for (const room of this.#rooms.values()) {
      if (room.readEpoch !== null && room.readSeq !== null) read[room.name] = { epoch: room.readEpoch, seq: room.readSeq };
    }
    return read;
  }

  /** Saves within a moment; for changes that come in bursts (read positions). */
  #saveSoon() {
    if (this.#saveTimer === null) this.#saveTimer = setTimeout(() => this.#save(), 500);
  }

  /** Remembers the rooms, the open one and read positions (app.js keeps the nickname). */
  #save() {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    this.#saved = { ...saved.load(), rooms: [...this.#rooms.keys()], active: this.#active, read: this.#readPositions() };
    saved.store(this.#saved);
  }
}

/** The room named after the URL's `#`, or null. */
function roomInUrl() {
  const name = location.hash.slice(1);
  return ROOM_NAME.test(name) ? name : null;
}

/** A random prefix for this page's post refs (works without a secure context). */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
