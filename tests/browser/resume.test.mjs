// Coming back: a reload keeps the history, and after the hub restarts the
// page reconnects by itself and shows what was posted meanwhile exactly
// once, paging through a `gap` when more was missed than the hub replays.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  assertClean,
  assertStrictlyRising,
  launch,
  person,
  recordFrames,
  say,
  shownMessages,
  waitForText,
  waitForTexts,
  waitJoined,
  waitOnline,
} from "./lib/browser.mjs";
import { Hub } from "./lib/hub.mjs";

// A small replay cap, so that a short absence already ends in a `gap`.
const CONFIG = `
[rooms]
replay_max = 5

[rooms.declare.kitchen]
title = "The kitchen"
`;

describe("coming back", () => {
  let hub;
  let browser;

  before(async () => {
    hub = await new Hub({ config: CONFIG }).start();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  test("a reload keeps the nickname, the room and the history", async () => {
    const page = await person(browser, hub, "gina", { room: "kitchen" });
    for (const text of ["one", "two", "three"]) await say(page, text);
    await waitForTexts(page, ["one", "two", "three"]);
    await page.reload();
    await waitOnline(page);
    await waitJoined(page, "kitchen");
    assert.match(await page.textContent("#room-name"), /^#kitchen\s*The kitchen$/);
    assert.equal(await page.textContent("#me"), "gina");
    await waitForTexts(page, ["one", "two", "three"]);
    const shown = await shownMessages(page);
    assert.deepEqual(
      shown.map((m) => [m.text, m.own]),
      [
        ["one", true],
        ["two", true],
        ["three", true],
      ],
    );
    assertStrictlyRising(shown);

    // A new nickname: the page starts over under it, in the same room.
    await page.click("#change-nick");
    assert.equal(await page.inputValue("#nick"), "gina");
    await page.fill("#nick", "gina-b");
    await Promise.all([page.waitForEvent("load"), page.click("#nick-form button.primary")]);
    await waitOnline(page);
    await waitJoined(page, "kitchen");
    assert.equal(await page.textContent("#me"), "gina-b");
    await waitForTexts(page, ["one", "two", "three"]);
    assert.equal(await page.locator("li.msg.own").count(), 0, "gina's messages are not gina-b's");
    assertClean(page);
    await page.context().close();
  });

  test("after a hub restart the page resumes and shows what it missed exactly once", async () => {
    const page = await person(browser, hub, "hank", { room: "pantry" });
    const frames = recordFrames(page);
    const other = await person(browser, hub, "ivy", { room: "pantry" });
    await say(other, "before the restart");
    await waitForText(page, "before the restart");

    // The hub stops (SIGTERM): the page notices and keeps trying.
    assert.equal(await hub.stop(), 0, "the hub exits 0 on SIGTERM");
    await page.waitForSelector('#conn:is([data-state="retrying"], [data-state="connecting"])');
    // Keep this page away a while (as if its Wi-Fi dropped) so that what
    // follows is surely missed, not received live.
    await page.context().setOffline(true);
    await hub.start();
    const missed = Array.from({ length: 23 }, (_, i) => `missed ${i + 1}`);
    for (const text of missed) await hub.post("pantry", text, "sensor");
    await waitOnline(other);
    await say(other, "ivy is back");

    // The network returns: the page reconnects at once and catches up
    // (5 replayed, then a gap paged with `history`).
    await page.context().setOffline(false);
    await waitOnline(page);
    await waitForTexts(page, [...missed, "ivy is back"]);
    await say(page, "hank is back");
    await waitForText(other, "hank is back");
    await page.waitForTimeout(300);

    const shown = await shownMessages(page);
    assertStrictlyRising(shown);
    const texts = shown.map((m) => m.text);
    assert.deepEqual(texts, ["before the restart", ...missed, "ivy is back", "hank is back"]);
    // It really was a resume past the replay cap: the hub sent a gap, and
    // the page paged for it after what it had.
    const rejoin = frames.sent.find((f) => f.op === "join" && f.since !== undefined);
    assert.equal(rejoin.since, 1, "rejoined after the one message it had");
    assert.ok(rejoin.epoch, "with the epoch");
    const gap = frames.received.find((f) => f.type === "gap");
    assert.deepEqual([gap?.from_seq, gap?.to_seq], [7, 25]);
    assert.ok(frames.sent.some((f) => f.op === "history" && f.after === 6));
    // What the page shows is exactly the room's history.
    const stored = await hub.history("pantry");
    assert.deepEqual(
      shown.map((m) => m.seq),
      stored.map((m) => m.seq),
    );
    assertClean(page);
    await page.context().close();
    await other.context().close();
  });

  test("a second restart with little missed resumes by replay alone", async () => {
    const page = await person(browser, hub, "jo", { room: "shed" });
    const frames = recordFrames(page);
    await say(page, "first");
    await waitForText(page, "first");
    await hub.stop();
    await page.waitForSelector('#conn:not([data-state="online"])');
    await page.context().setOffline(true);
    await hub.start();
    await hub.post("shed", "while away", "sensor");
    await page.context().setOffline(false);
    await waitOnline(page);
    await waitForText(page, "while away");
    await say(page, "after");
    await waitForText(page, "after");
    const shown = await shownMessages(page);
    assert.deepEqual(
      shown.map((m) => m.text),
      ["first", "while away", "after"],
    );
    assertStrictlyRising(shown);
    // "while away" came as the replay right after the rejoin, with no gap.
    const joined = frames.received.findLastIndex((f) => f.type === "joined");
    assert.equal(frames.received[joined].last_seq, 2);
    assert.equal(frames.received[joined + 1].text, "while away");
    assert.ok(!frames.received.some((f) => f.type === "gap"));
    assertClean(page);
    await page.context().close();
  });
});
