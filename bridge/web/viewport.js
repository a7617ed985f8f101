// The scrolling area that shows the open room: it stays at the bottom while
// the user is there, and keeps its place when older messages appear above.

import { fill } from "./dom.js";

/** Closer than this to the bottom counts as being at the bottom. */
const BOTTOM_SLACK_PX = 48;

/** The scroller element; `onScroll()` runs after each scroll by the user. */
export class Viewport {
  #el;
  /** Whether the view is at the bottom (and so follows new messages). */
  stuck = true;

  constructor(el, onScroll) {
    this.#el = el;
    el.addEventListener(
      "scroll",
      () => {
        this.stuck = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX;
        onScroll();
      },
      { passive: true },
    );
  }

  /** Shows `content` instead of what was there, scrolled to the bottom. */
  show(content) {
    fill(this.#el, content);
    this.toBottom();
  }

  /** Scrolls to the newest message. */
  toBottom() {
    this.#el.scrollTop = this.#el.scrollHeight;
    this.stuck = true;
  }

  /** After something was added at the end: follows it if at the bottom. */
  follow() {
    if (this.stuck) this.#el.scrollTop = this.#el.scrollHeight;
  }

  /** Runs `change` (which redraws the content) without moving what is in view. */
  keepPlace(change) {
    const el = this.#el;
    const fromBottom = el.scrollHeight - el.scrollTop;
    change();
    el.scrollTop = this.stuck ? el.scrollHeight : el.scrollHeight - fromBottom;
  }

  /** Whether the oldest message shown is less than a screen away. */
  get nearTop() {
    return this.#el.scrollTop <= this.#el.clientHeight;
  }
}
