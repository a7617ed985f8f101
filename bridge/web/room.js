// One room as this browser knows it: the messages it holds, where it can
// resume, who is online and typing, and posts not yet confirmed. No DOM.

/**
 * A room's state. Messages are kept by `seq`. `hi` is the resume point:
 * every message up to it is here or deliberately not wanted (older than
 * what was loaded), so a rejoin asks for `since: hi`. `lo` is the oldest
 * message held; `top` says nothing older exists.
 */
export class Room {
  /** @param {string} name @param {{epoch?: string, seq?: number}} read */
  constructor(name, read = {}) {
    this.name = name;
    this.title = null;
    this.epoch = null;
    this.messages = new Map();
    this.hi = 0;
    this.lo = null;
    this.top = false;
    /** The highest seq known to exist (from `joined`, the room list, messages). */
    this.latest = 0;
    /** The seq read up to, in `readEpoch`; null until known. */
    this.readSeq = typeof read.seq === "number" ? read.seq : null;
    this.readEpoch = read.epoch ?? null;
    /** Joined on the current connection. */
    this.joined = false;
    /** Message frames at or below this seq are an unwanted replay. */
    this.dropThrough = 0;
    /** The first replayed message after a join may skip seqs lost to retention. */
    this.expectReplay = false;
    /** Paging for a `gap` up to this seq. */
    this.gapTo = 0;
    this.loadingOlder = false;
    this.online = new Set();
    /** who -> timer that clears the typing note. */
    this.typing = new Map();
    /** ref -> post not yet seen as a message, in the order written. */
    this.pending = new Map();
    /** Join and leave notes, each shown after the message `after`. */
    this.notices = [];
  }

  /** Forgets all history (a new epoch). */
  clear() {
    this.messages.clear();
    this.notices = [];
    this.hi = 0;
    this.lo = null;
    this.top = false;
    this.latest = 0;
    this.gapTo = 0;
  }

  /**
   * Takes the `joined` frame: returns true if the messages held so far
   * belong to another history and were dropped.
   */
  joinedAs(frame, askedSince) {
    this.joined = true;
    this.title = frame.title ?? null;
    this.online = new Set(frame.online);
    this.latest = Math.max(this.latest, frame.last_seq);
    this.loadingOlder = false;
    this.gapTo = 0;
    const reset = frame.reset || (this.epoch !== null && this.epoch !== frame.epoch);
    if (reset) this.clear();
    if (this.readEpoch !== frame.epoch) {
      this.readEpoch = frame.epoch;
      this.readSeq = null;
    }
    // A room seen for the first time starts out read.
    this.readSeq ??= frame.last_seq;
    this.epoch = frame.epoch;
    if (askedSince === undefined || reset) {
      // Start at the end and page back on demand; a replay from the very
      // beginning (after a reset) is not wanted.
      this.hi = frame.last_seq;
      this.latest = frame.last_seq;
      this.dropThrough = frame.last_seq;
      this.top = frame.last_seq === 0;
      this.expectReplay = false;
    } else {
      this.dropThrough = 0;
      this.expectReplay = frame.last_seq > askedSince;
    }
    return reset;
  }

  /**
   * Adds a message from a `message` frame; returns false if it was already
   * here or is not wanted.
   */
  live(msg) {
    if (msg.seq <= this.dropThrough) return false;
    if (this.expectReplay) {
      this.expectReplay = false;
      // The first replayed message follows `hi` unless retention removed
      // the ones between: those are gone for good.
      if (msg.seq > this.hi + 1) this.hi = msg.seq - 1;
    }
    return this.add(msg);
  }

  /** Adds a message; false if it was already here. */
  add(msg) {
    if (this.messages.has(msg.seq)) return false;
    this.messages.set(msg.seq, msg);
    if (this.lo === null || msg.seq < this.lo) this.lo = msg.seq;
    this.latest = Math.max(this.latest, msg.seq);
    while (this.messages.has(this.hi + 1)) this.hi += 1;
    return true;
  }

  /** Takes a page of older messages (asked with `before`, `limit`). */
  older(messages, limit) {
    this.loadingOlder = false;
    if (messages.length < limit) this.top = true;
    return messages.filter((m) => this.add(m)).length;
  }

  /**
   * Takes a page asked with `after: hi` while filling a gap; returns the
   * next `after` to ask for, or null when the gap is filled.
   */
  gapPage(messages) {
    if (messages.length > 0 && messages[0].seq > this.hi + 1) this.hi = messages[0].seq - 1;
    for (const m of messages) this.add(m);
    if (messages.length === 0 || this.hi >= this.gapTo) {
      this.hi = Math.max(this.hi, this.gapTo);
      while (this.messages.has(this.hi + 1)) this.hi += 1;
      this.gapTo = 0;
      return null;
    }
    return this.hi;
  }

  /** The messages held, oldest first. */
  sorted() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Messages not yet read. */
  get unread() {
    return Math.max(0, this.latest - (this.readSeq ?? this.latest));
  }

  /** Marks everything held as read; true if that changed anything. */
  markRead() {
    if (this.readSeq !== null && this.readSeq >= this.latest) return false;
    this.readSeq = this.latest;
    return true;
  }
}
