// Hubbub's web chat: the entry point. Asks the hub who this browser is,
// shows the sign-in form, the nickname form or the chat, and wires the
// page's controls to the chat.

import { Chat } from "./chat.js";
import { byId } from "./dom.js";
import { guest, signIn, signOut, user, whoAmI } from "./identity.js";
import { nickProblem, ROOM_RULE, roomProblem, suggestRoom } from "./rules.js";
import * as saved from "./saved.js";

/** What a hub that cannot be asked is taken to be: the open default. */
const OPEN_HUB = { kind: "anonymous", name: null, admin: false, accounts: false, guests: true };

const remembered = saved.load();
const hub = (await whoAmI()) ?? OPEN_HUB;
let chat = null;

if (hub.kind === "user") startChat(user(hub.name));
else if (!hub.guests) askLogin();
else if (remembered.nick !== null && nickProblem(remembered.nick) === null) startChat(guest(remembered.nick));
else askNick();

/** Shows one of the welcome forms (`nick-form` or `login-form`). */
function showWelcome(id) {
  byId("app").hidden = true;
  byId("welcome").hidden = false;
  for (const form of ["nick-form", "login-form"]) byId(form).hidden = form !== id;
}

/** Shows the nickname form; a chosen nickname (re)starts the chat. */
function askNick(current = "") {
  showWelcome("nick-form");
  const input = byId("nick");
  input.value = current;
  input.focus();
  const cancel = byId("nick-cancel");
  cancel.hidden = chat === null;
  cancel.onclick = () => {
    byId("welcome").hidden = true;
    byId("app").hidden = false;
  };
  byId("show-login").hidden = !hub.accounts;
  byId("show-login").onclick = () => askLogin();
  byId("nick-form").onsubmit = (event) => {
    event.preventDefault();
    const nick = input.value.trim();
    const problem = nickProblem(nick);
    const hint = byId("nick-hint");
    hint.classList.toggle("error", problem !== null);
    if (problem !== null) {
      hint.textContent = problem;
      input.focus();
      return;
    }
    saved.store({ ...saved.load(), nick });
    // A new nickname needs a new connection (`hello` comes before joins).
    if (chat !== null) location.reload();
    else startChat(guest(nick));
  };
}

/** Shows the sign-in form; a session starts the chat as that user. */
function askLogin() {
  showWelcome("login-form");
  const name = byId("login-name");
  const password = byId("login-password");
  const hint = byId("login-hint");
  name.focus();
  byId("login-guest").hidden = !hub.guests;
  byId("login-guest").onclick = () => askNick(remembered.nick ?? "");
  byId("login-form").onsubmit = async (event) => {
    event.preventDefault();
    byId("login-button").disabled = true;
    const problem = await signIn(name.value.trim(), password.value);
    byId("login-button").disabled = false;
    hint.textContent = problem ?? "";
    hint.classList.toggle("error", problem !== null);
    password.value = "";
    // The session cookie is set: start over as the user, on a new connection.
    if (problem === null) location.reload();
    else password.focus();
  };
}

function startChat(identity) {
  byId("welcome").hidden = true;
  byId("app").hidden = false;
  chat = new Chat(identity, () => checkSignIn(identity));
  wireJoinForm(chat);
  wireComposer(chat);
  const signedIn = identity.kind === "user";
  byId("change-nick").hidden = signedIn;
  byId("change-nick").onclick = () => askNick(saved.load().nick ?? "");
  byId("sign-in").hidden = signedIn || !hub.accounts;
  byId("sign-in").onclick = () => askLogin();
  byId("sign-out").hidden = !signedIn;
  byId("sign-out").onclick = async () => {
    await signOut();
    location.reload();
  };
  byId("leave").onclick = () => chat.leave();
  byId("conn").onclick = () => chat.retryNow();
  byId("menu").onclick = () => document.body.classList.toggle("drawer-open");
  byId("scrim").onclick = () => document.body.classList.remove("drawer-open");
  chat.start();
}

/**
 * After a lost connection: if the hub no longer takes this browser as it
 * is (the session ended or expired, or guests are no longer welcome), the
 * WebSocket would be refused forever, so start over.
 */
async function checkSignIn(identity) {
  const now = await whoAmI();
  if (now === null) return;
  const holds = identity.kind === "user" ? now.kind === "user" && now.name === identity.nick : now.guests;
  if (!holds) location.reload();
}

/** The join field explains the room-name rule as the user types. */
function wireJoinForm(chat) {
  const input = byId("join-name");
  const hint = byId("join-hint");
  const button = byId("join-button");
  const check = () => {
    const name = input.value;
    const problem = roomProblem(name);
    hint.replaceChildren(problem ?? ROOM_RULE);
    hint.classList.toggle("error", problem !== null);
    const suggestion = suggestRoom(name);
    if (problem !== null && suggestion !== "") {
      const use = document.createElement("button");
      use.type = "button";
      use.className = "link";
      use.textContent = `Use “${suggestion}”`;
      use.onclick = () => {
        input.value = suggestion;
        check();
        input.focus();
      };
      hint.append(" ", use);
    }
    button.disabled = name === "" || problem !== null;
  };
  input.addEventListener("input", check);
  check();
  byId("join-form").onsubmit = (event) => {
    event.preventDefault();
    if (button.disabled) return;
    chat.open(input.value);
    input.value = "";
    check();
  };
}

/** Enter sends, Shift+Enter starts a new line; the field grows with its text. */
function wireComposer(chat) {
  const text = byId("text");
  const hint = byId("composer-hint");
  const fit = () => {
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
  };
  const send = () => {
    const problem = chat.post(text.value);
    hint.textContent = problem ?? "";
    if (problem === null) {
      text.value = "";
      fit();
    }
    text.focus();
  };
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  text.addEventListener("input", () => {
    fit();
    if (text.value.trim() !== "") chat.typing();
  });
  byId("composer").onsubmit = (event) => {
    event.preventDefault();
    send();
  };
}
