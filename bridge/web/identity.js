// Who this browser chats as: a guest who picks a nickname, or a user who
// signed in. Signing in sets the hub's session cookie (HttpOnly: scripts
// never see it); the browser sends it along with every request and with the
// WebSocket upgrade, so `hello` carries no secret.

import { h } from "./dom.js";

/** The prefix of every guest's name on a hub with accounts. */
const GUEST_PREFIX = "guest:";

/** A guest identity: a nickname and nothing to prove. */
export function guest(nick) {
  return { kind: "guest", nick };
}

/** A signed-in user: the name is the user name and cannot change. */
export function user(name) {
  return { kind: "user", nick: name };
}

/** The `hello` frame that introduces `identity` to the hub. */
export function hello(identity) {
  return { op: "hello", nick: identity.nick };
}

/** Whether a name in a room is a guest's. */
export function isGuestName(name) {
  return name.startsWith(GUEST_PREFIX);
}

/** A name as text, with a guest's prefix set apart so it reads as a kind, not a name. */
export function nameParts(name) {
  if (!isGuestName(name)) return [name];
  return [h("span", { class: "guest-prefix" }, GUEST_PREFIX), name.slice(GUEST_PREFIX.length)];
}

/**
 * What the hub says about this browser (GET /api/me): `{kind, name,
 * admin, accounts, guests}`, with `kind` null when the hub wants a sign-in
 * first; null if the hub cannot be asked.
 */
export async function whoAmI() {
  try {
    const reply = await fetch("/api/me", { cache: "no-store" });
    if (reply.status === 401) return { kind: null, name: null, admin: false, accounts: true, guests: false };
    if (reply.ok) return await reply.json();
  } catch {
    // Out of reach: the caller decides.
  }
  return null;
}

/** Signs in; resolves to null, or to what went wrong in words. */
export async function signIn(name, password) {
  try {
    const reply = await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password }),
    });
    if (reply.ok) return null;
    const body = await reply.json().catch(() => ({}));
    if (body.error?.code === "bad_credentials") return "Wrong user name or password.";
    return body.error?.message ?? `The hub answered ${reply.status}.`;
  } catch {
    return "The hub is out of reach; try again.";
  }
}

/** Ends this browser's session (and the hub drops the cookie). */
export async function signOut() {
  try {
    await fetch("/api/logout", { method: "POST" });
  } catch {
    // Out of reach: the session ends when it expires.
  }
}
