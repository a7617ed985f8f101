// Headless Chromium (Debian's package) driven by playwright-core, and the
// steps a person takes in the chat app.

import assert from "node:assert/strict";
import { chromium } from "playwright-core";

/** The browser binary: $CHROMIUM_BIN or Debian's. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches headless Chromium. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

/**
 * Opens the hub's page in a browser context of its own (separate storage);
 * `setup(page)` runs before the page is opened. The page records script
 * errors in `page.errors` and dialogs (dismissed) in `page.dialogs`.
 */
export async function visit(browser, hub, { setup, viewport = DESKTOP, ...options } = {}) {
  const context = await browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  if (setup) await setup(page);
  page.errors = [];
  page.dialogs = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("dialog", (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  const reply = await page.goto(`${hub.url}/`);
  assert.equal(reply.status(), 200);
  return page;
}

/**
 * A person who opens the hub's page ([visit]) and picks `nick`; joins
 * `room` if given.
 */
export async function person(browser, hub, nick, { room, ...options } = {}) {
  const page = await visit(browser, hub, options);
  await page.fill("#nick", nick);
  await page.click("#nick-form button");
  await waitOnline(page);
  if (room) await joinRoom(page, room);
  return page;
}

/** Joins (or creates) a room with the sidebar form and waits until it is joined. */
export async function joinRoom(page, room) {
  await openDrawerIfPhone(page);
  await page.fill("#join-name", room);
  await page.click("#join-button");
  await waitJoined(page, room);
}

/** Waits until the open room is `room` and joined. */
export async function waitJoined(page, room) {
  await page.waitForFunction(
    (name) =>
      document.getElementById("room-name").textContent.startsWith(`#${name}`) &&
      document.getElementById("room-online").textContent.includes("online"),
    room,
  );
}

/** Waits for the connection badge to say connected. */
export async function waitOnline(page) {
  await page.waitForSelector('#conn[data-state="online"]');
}

/** On a narrow screen, opens the rooms drawer. */
export async function openDrawerIfPhone(page) {
  const phone = await page.evaluate(() => window.innerWidth <= 720);
  const open = await page.evaluate(() => document.body.matches(".drawer-open, .no-room"));
  if (phone && !open) {
    await page.click("#menu");
    await page.waitForTimeout(250);
  }
}

/** Types a message into the composer and presses Enter. */
export async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** The texts of the messages shown in the open room, in order. */
export function shownTexts(page) {
  return page.$$eval("ol.messages:not(.pending-list) li.msg .text", (els) => els.map((e) => e.textContent));
}

/** The shown messages as {seq, from, text, via, status}. */
export function shownMessages(page) {
  return page.$$eval("ol.messages:not(.pending-list) li.msg", (els) =>
    els.map((e) => ({
      seq: Number(e.dataset.seq),
      from: e.dataset.from,
      via: e.dataset.via,
      status: e.dataset.status,
      text: e.querySelector(".text").textContent,
      own: e.classList.contains("own"),
      device: e.classList.contains("device"),
    })),
  );
}

/** Waits until a message with exactly this text is shown. */
export async function waitForText(page, text, timeout = 10000) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("ol.messages:not(.pending-list) li.msg .text")].some((e) => e.textContent === t),
    text,
    { timeout },
  );
}

/** Waits until every one of `texts` is shown. */
export async function waitForTexts(page, texts, timeout = 15000) {
  await page.waitForFunction(
    (ts) => {
      const shown = new Set(
        [...document.querySelectorAll("ol.messages:not(.pending-list) li.msg .text")].map((e) => e.textContent),
      );
      return ts.every((t) => shown.has(t));
    },
    texts,
    { timeout },
  );
}

/** Asserts that the page had no script error and opened no dialog. */
export function assertClean(page) {
  assert.deepEqual(page.errors, [], "script errors on the page");
  assert.deepEqual(page.dialogs, [], "dialogs opened by the page");
}

/** Asserts the shown seqs rise strictly (no message twice, none out of order). */
export function assertStrictlyRising(messages) {
  for (let i = 1; i < messages.length; i += 1) {
    assert.ok(messages[i].seq > messages[i - 1].seq, `seq ${messages[i].seq} after ${messages[i - 1].seq}`);
  }
}

/**
 * Records every frame the page's WebSockets receive from the hub and send
 * to it, parsed: `{received: [...], sent: [...]}`.
 */
export function recordFrames(page) {
  const frames = { received: [], sent: [] };
  page.on("websocket", (ws) => {
    ws.on("framereceived", (f) => frames.received.push(JSON.parse(f.payload)));
    ws.on("framesent", (f) => frames.sent.push(JSON.parse(f.payload)));
  });
  return frames;
}
