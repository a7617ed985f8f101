// What this browser remembers between visits (localStorage): the
// nickname, the rooms it is in, which one was open, and how far each was
// read. Storage may be unavailable (private windows): then nothing is kept.

const KEY = "hubbub.v1";

/** The remembered state, or a fresh one. */
export function load() {
  const fresh = { nick: null, rooms: [], active: null, read: {} };
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (!saved || typeof saved !== "object") return fresh;
    return {
      nick: typeof saved.nick === "string" ? saved.nick : null,
      rooms: Array.isArray(saved.rooms) ? saved.rooms.filter((r) => typeof r === "string") : [],
      active: typeof saved.active === "string" ? saved.active : null,
      read: saved.read && typeof saved.read === "object" ? saved.read : {},
    };
  } catch {
    return fresh;
  }
}

/** Remembers `state`. */
export function store(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch {
    // Full or unavailable: the app works the same, it just forgets.
  }
}
