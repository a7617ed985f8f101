// The parts of the page around the messages: the room header with who is
// online, the typing note, the "new messages" pill, the window title, the
// connection badge and passing notes.

import { byId, fill, h, tint } from "./dom.js";
import { nameParts } from "./identity.js";

const BADGE_WORDS = {
  connecting: "Connecting…",
  online: "Connected",
  retrying: "Reconnecting",
  offline: "Offline",
};

/**
 * Draws what surrounds the open `room` (null: none) for the user `nick`;
 * `stuck` says the view is at the bottom; `othersUnread` counts unread
 * messages in the other rooms, `allUnread` in all of them.
 */
export function drawRoom(room, nick, stuck, othersUnread, allUnread) {
  document.body.classList.toggle("no-room", room === null);
  byId("menu").dataset.unread = String(othersUnread);
  fill(byId("me"), nameParts(nick));
  document.title = `${allUnread > 0 ? `(${allUnread}) ` : ""}${room ? `#${room.name} · ` : ""}Hubbub`;
  const pill = byId("new-pill");
  if (room === null) {
    byId("room-name").textContent = "Hubbub";
    fill(byId("room-online"));
    fill(byId("typing"));
    pill.hidden = true;
    return;
  }
  fill(byId("room-name"), `#${room.name}`, shownTitle(room.name, room.title) && h("small", {}, room.title));
  fill(byId("room-online"), room.joined ? onlineLine(room.online, nick) : "not connected");
  byId("text").placeholder = `Message #${room.name}`;
  byId("typing").textContent = typingWords([...room.typing.keys()]);
  pill.hidden = stuck || room.unread === 0;
  pill.textContent = `${room.unread} new message${room.unread === 1 ? "" : "s"} ↓`;
}

/** Whether a room's title says more than its name. */
export function shownTitle(name, title) {
  return Boolean(title) && title.toLowerCase() !== name;
}

/** What the message area shows when no room is open. */
export function emptyState() {
  return h(
    "div",
    { class: "empty" },
    h("h2", {}, "Pick a room"),
    h("p", {}, "Join a room from the list, or type a name to create one. Everyone on this hub can join it."),
  );
}

function onlineLine(online, nick) {
  const names = [...online].sort((a, b) => (a === nick ? -1 : b === nick ? 1 : a.localeCompare(b)));
  const items = names.map((n) => h("span", { class: `who ${tint(n)}` }, n === nick ? `${n} (you)` : n));
  return [
    h("span", { class: "dot", "aria-hidden": "true" }),
    `${names.length} online`,
    names.length > 0 && h("span", { class: "names" }, ": ", ...items.flatMap((item, i) => (i ? [", ", item] : [item]))),
  ];
}

function typingWords(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

/** The connection badge: connected, connecting, reconnecting in N s, offline. */
export class Badge {
  #el;
  #timer = null;

  constructor(el) {
    this.#el = el;
  }

  /** Shows a state from the Connection (`{name, reason, retryAt}`). */
  show(state) {
    clearInterval(this.#timer);
    const el = this.#el;
    el.dataset.state = state.name;
    el.title = state.reason ? `Last disconnect: ${state.reason}. Click to retry now.` : "";
    const words = () => {
      if (state.name !== "retrying" || state.retryAt === null) return BADGE_WORDS[state.name];
      return `Reconnecting in ${Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000))} s`;
    };
    el.textContent = words();
    if (state.name === "retrying") this.#timer = setInterval(() => (el.textContent = words()), 1000);
  }
}

/** Shows a note for a few seconds. */
export function toast(text) {
  const note = h("div", { class: "toast", role: "alert" }, text);
  byId("toasts").append(note);
  setTimeout(() => note.remove(), 6000);
}
