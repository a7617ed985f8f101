// The naming rules of docs/protocol.md, with words that explain them.

/** A room name: what the hub accepts, nothing more. */
export const ROOM_NAME = /^[a-z0-9_-]{1,64}$/;

/** The room-name rule in words, shown next to the join field. */
export const ROOM_RULE =
  "Room names use lowercase letters a–z, digits 0–9, _ and -, up to 64 characters.";

/** The longest nickname, in characters. */
const NICK_MAX = 32;

/**
 * What is wrong with a room name, in words, or null if the hub will take
 * it. An empty name is not an error yet: the user has not typed.
 */
export function roomProblem(name) {
  if (name === "" || ROOM_NAME.test(name)) return null;
  if (name.length > 64) return `At most 64 characters (this is ${name.length}).`;
  if (/[A-Z]/.test(name)) return "Use lowercase letters only.";
  if (/\s/.test(name)) return "No spaces: use - or _ instead.";
  const bad = [...name].find((c) => !/[a-z0-9_-]/.test(c));
  return `“${bad}” is not allowed here.`;
}

/** The closest valid room name to what was typed, or "" if none. */
export function suggestRoom(name) {
  return name
    .trim()
    .toLowerCase()
    .replace(/\s+/g, "-")
    .replace(/[^a-z0-9_-]/g, "")
    .slice(0, 64);
}

/** What is wrong with a nickname, or null (the hub's `bad_nick` rule). */
export function nickProblem(nick) {
  const chars = [...nick].length;
  if (chars === 0) return "Pick a nickname.";
  if (chars > NICK_MAX) return `At most ${NICK_MAX} characters.`;
  if (nick.trim() !== nick) return "No spaces at the start or end.";
  if (/[\u0000-\u001f\u007f-\u009f]/.test(nick)) return "No control characters.";
  return null;
}

/** How many bytes `text` takes as UTF-8, as the hub counts it. */
export function utf8Bytes(text) {
  return new TextEncoder().encode(text).length;
}
