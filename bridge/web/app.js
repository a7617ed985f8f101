// Hubbub's web chat: the entry point. Shows the nickname form or the chat,
// and wires the page's controls to the chat.

import { Chat } from "./chat.js";
import { byId } from "./dom.js";
import { guest } from "./identity.js";
import { nickProblem, ROOM_RULE, roomProblem, suggestRoom } from "./rules.js";
import * as saved from "./saved.js";

const remembered = saved.load();
let chat = null;

if (remembered.nick !== null && nickProblem(remembered.nick) === null) startChat(remembered.nick);
else askNick();

/** Shows the nickname form; a chosen nickname (re)starts the chat. */
function askNick(current = "") {
  byId("app").hidden = true;
  byId("welcome").hidden = false;
  const input = byId("nick");
  input.value = current;
  input.focus();
  const cancel = byId("nick-cancel");
  cancel.hidden = chat === null;
  cancel.onclick = () => {
    byId("welcome").hidden = true;
    byId("app").hidden = false;
  };
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
    else startChat(nick);
  };
}

function startChat(nick) {
  byId("welcome").hidden = true;
  byId("app").hidden = false;
  chat = new Chat(guest(nick));
  wireJoinForm(chat);
  wireComposer(chat);
  byId("change-nick").onclick = () => askNick(chat.nick);
  byId("leave").onclick = () => chat.leave();
  byId("conn").onclick = () => chat.retryNow();
  byId("menu").onclick = () => document.body.classList.toggle("drawer-open");
  byId("scrim").onclick = () => document.body.classList.remove("drawer-open");
  chat.start();
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
