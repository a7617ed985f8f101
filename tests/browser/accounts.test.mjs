// Accounts in the web app: a hub for users only asks for a sign-in first;
// the session lives in an HttpOnly cookie that the WebSocket upgrade
// carries; a private room stays closed to others; signing out ends it. On
// a hub that also lets guests in, their `guest:` names are set apart.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  assertClean,
  joinRoom,
  launch,
  person,
  say,
  shownMessages,
  visit,
  waitForText,
  waitJoined,
  waitOnline,
} from "./lib/browser.mjs";
import { Hub } from "./lib/hub.mjs";

const PASSWORD = "correct horse battery";

/** Fills the sign-in form and submits it. */
async function signIn(page, name, password) {
  await page.waitForSelector("#login-form:not([hidden])");
  await page.fill("#login-name", name);
  await page.fill("#login-password", password);
  await page.click("#login-button");
}

describe("signing in", () => {
  let hub;
  let browser;

  before(async () => {
    hub = new Hub({
      config: [
        "[auth]",
        "accounts = true",
        "anonymous = false",
        "[rooms.declare.secret]",
        "private = true",
        'members = ["alice"]',
        "",
      ].join("\n"),
    });
    await hub.start();
    hub.addUser("alice", PASSWORD);
    hub.addUser("bob", PASSWORD);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  test("sign in, chat as the user in a private room, sign out", async () => {
    const alice = await visit(browser, hub);
    // Users only: the sign-in form, no nickname form.
    await alice.waitForSelector("#login-form:not([hidden])");
    assert.equal(await alice.isHidden("#nick-form"), true);
    assert.equal(await alice.isHidden("#login-guest"), true, "no guest way in");

    await signIn(alice, "alice", "not the password");
    await alice.waitForFunction(() => document.getElementById("login-hint").textContent !== "");
    assert.equal(await alice.textContent("#login-hint"), "Wrong user name or password.");
    assert.equal(await alice.inputValue("#login-password"), "", "the password is not kept");

    await signIn(alice, "alice", PASSWORD);
    await waitOnline(alice);
    await alice.waitForFunction(() => document.getElementById("me").textContent === "alice");
    assert.equal(await alice.isVisible("#sign-out"), true);
    assert.equal(await alice.isHidden("#change-nick"), true, "a user's name does not change");

    // The session is an HttpOnly, SameSite=Strict cookie scripts cannot read.
    const cookies = await alice.context().cookies();
    const session = cookies.find((c) => c.name === "hubbub_session");
    assert.ok(session, `cookies: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(await alice.evaluate(() => document.cookie.includes("hubbub_session")), false);

    // The WebSocket upgrade carried the cookie: alice is herself in her room.
    await joinRoom(alice, "secret");
    await say(alice, "for alice only");
    await waitForText(alice, "for alice only");
    const shown = await shownMessages(alice);
    assert.deepEqual(
      shown.map((m) => [m.from, m.text, m.own]),
      [["alice", "for alice only", true]],
    );

    // Bob signs in too: the private room stays closed to him.
    const bob = await visit(browser, hub);
    await signIn(bob, "bob", PASSWORD);
    await waitOnline(bob);
    await bob.fill("#join-name", "secret");
    await bob.click("#join-button");
    await bob.waitForFunction(() =>
      [...document.querySelectorAll(".toast")].some((t) => t.textContent.includes("secret")),
    );
    assert.equal(await bob.locator('#my-rooms button[data-room="secret"]').count(), 0);
    assert.equal(await bob.locator('#hub-rooms button[data-room="secret"]').count(), 0, "not even listed");

    // Signing out ends the session: the sign-in form again, and the hub
    // answers as to a stranger.
    await alice.click("#sign-out");
    await alice.waitForSelector("#login-form:not([hidden])");
    const me = await alice.evaluate(async () => (await fetch("/api/me")).status);
    assert.equal(me, 401);
    assertClean(alice);
    assertClean(bob);
    await alice.context().close();
    await bob.context().close();
  });
});

describe("guests beside users", () => {
  let hub;
  let browser;

  before(async () => {
    hub = new Hub({ config: "[auth]\naccounts = true\nanonymous = true\n" });
    await hub.start();
    hub.addUser("alice", PASSWORD);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  test("a guest's name is set apart; a user signs in from the nickname form", async () => {
    const guest = await person(browser, hub, "bob", { room: "lobby" });
    await guest.waitForFunction(() => document.getElementById("me").textContent === "guest:bob");
    assert.equal(await guest.textContent("#me .guest-prefix"), "guest:");
    assert.equal(await guest.isVisible("#sign-in"), true, "a guest may sign in");

    const alice = await visit(browser, hub);
    await alice.waitForSelector("#nick-form:not([hidden])");
    await alice.click("#show-login");
    await signIn(alice, "alice", PASSWORD);
    await waitOnline(alice);
    await alice.waitForFunction(() => document.getElementById("me").textContent === "alice");
    await joinRoom(alice, "lobby");
    await waitJoined(alice, "lobby");

    await say(guest, "hello from a guest");
    await waitForText(alice, "hello from a guest");
    const fromGuest = alice.locator('li.msg[data-from="guest:bob"]');
    assert.match(await fromGuest.getAttribute("class"), /\bguest\b/);
    assert.equal(await fromGuest.locator(".from .guest-prefix").textContent(), "guest:");
    assert.equal(await fromGuest.locator(".from").textContent(), "guest:bob");

    await say(alice, "hi guest");
    await waitForText(guest, "hi guest");
    const seen = await shownMessages(guest);
    assert.deepEqual(
      seen.map((m) => [m.from, m.own]),
      [
        ["guest:bob", true],
        ["alice", false],
      ],
    );
    assertClean(guest);
    assertClean(alice);
    await guest.context().close();
    await alice.context().close();
  });
});
