// The room lists in the sidebar: the rooms this browser is in (with unread
// counts and who is online) and the other rooms on the hub.

import { h } from "./dom.js";
import { shownTitle } from "./screen.js";

/**
 * Draws both lists. `onOpen(name)` is called when a room is picked from
 * either list.
 */
export class RoomsView {
  #mine;
  #others;
  #othersHeading;
  #onOpen;

  constructor(mine, others, othersHeading, onOpen) {
    this.#mine = mine;
    this.#others = others;
    this.#othersHeading = othersHeading;
    this.#onOpen = onOpen;
  }

  /**
   * `rooms`: name -> Room for the rooms joined here; `active`: the open one;
   * `hubRooms`: the summaries of `GET /api/rooms`; `read`: saved read
   * positions by room.
   */
  render(rooms, active, hubRooms, read) {
    const summary = new Map(hubRooms.map((r) => [r.name, r]));
    this.#mine.replaceChildren(
      ...[...rooms.values()].map((room) => {
        const online = room.joined ? room.online.size : (summary.get(room.name)?.online ?? 0);
        return this.#item(room.name, room.title ?? summary.get(room.name)?.title, {
          online,
          unread: room.name === active ? 0 : room.unread,
          current: room.name === active,
        });
      }),
    );
    const others = hubRooms.filter((r) => !rooms.has(r.name));
    this.#othersHeading.hidden = others.length === 0;
    this.#others.replaceChildren(
      ...others.map((r) => {
        const last = read[r.name];
        const unread = last && last.epoch === r.epoch ? Math.max(0, r.last_seq - last.seq) : 0;
        return this.#item(r.name, r.title, { online: r.online, unread, current: false });
      }),
    );
  }

  #item(name, title, { online, unread, current }) {
    const label = [`#${name}`];
    if (online > 0) label.push(`${online} online`);
    if (unread > 0) label.push(`${unread} unread`);
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "room",
          "aria-current": current ? "page" : undefined,
          "aria-label": label.join(", "),
          data: { room: name, unread: String(unread) },
          on: { click: () => this.#onOpen(name) },
        },
        h("span", { class: "hash", "aria-hidden": "true" }, "#"),
        h("span", { class: "name" }, name, shownTitle(name, title) && h("small", {}, title)),
        online > 0 && h("span", { class: "online", title: `${online} online` }, String(online)),
        unread > 0 && h("span", { class: "unread" }, unread > 99 ? "99+" : String(unread)),
      ),
    );
  }
}
