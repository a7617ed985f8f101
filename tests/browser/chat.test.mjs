// Two people chat through the hub in real browsers; a device's message
// arrives; the room list, unread counts, presence and typing work; user
// text is never markup.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  assertClean,
  joinRoom,
  launch,
  person,
  say,
  shownMessages,
  shownTexts,
  waitForText,
} from "./lib/browser.mjs";
import { Hub } from "./lib/hub.mjs";

describe("chatting", () => {
  let hub;
  let browser;

  before(async () => {
    hub = await new Hub().start();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  test("two pages chat with each other, with presence and typing", async () => {
    const alice = await person(browser, hub, "alice", { room: "kitchen" });
    const bob = await person(browser, hub, "bob", { room: "kitchen" });

    // Alice sees Bob arrive; Bob sees Alice online.
    await alice.waitForFunction(() =>
      [...document.querySelectorAll("li.notice")].some((e) => e.textContent === "bob joined"),
    );
    await bob.waitForFunction(() => document.getElementById("room-online").textContent.includes("alice"));

    // Typing shows up on the other side, then the message.
    await alice.click("#text");
    await alice.keyboard.type("hi bob");
    await bob.waitForFunction(() => document.getElementById("typing").textContent === "alice is typing…");
    await alice.keyboard.press("Enter");
    await waitForText(bob, "hi bob");
    assert.equal(await alice.inputValue("#text"), "", "Enter sends and clears the field");

    // Shift+Enter is a new line; Enter sends.
    await bob.click("#text");
    await bob.keyboard.type("line one");
    await bob.keyboard.press("Shift+Enter");
    await bob.keyboard.type("line two");
    await bob.keyboard.press("Enter");
    await waitForText(alice, "line one\nline two");

    // Own messages are marked and end up sent; the other's are not own.
    await alice.waitForSelector('li.msg.own[data-status="sent"]');
    const seenByAlice = await shownMessages(alice);
    assert.deepEqual(
      seenByAlice.map((m) => [m.from, m.text, m.own]),
      [
        ["alice", "hi bob", true],
        ["bob", "line one\nline two", false],
      ],
    );
    assert.equal(await alice.locator("ol.pending-list li").count(), 0, "nothing left pending");
    // Sender and time are shown.
    assert.equal(await alice.locator('li.msg[data-from="bob"] .from').first().textContent(), "bob");
    assert.match(await alice.locator("li.msg time").first().getAttribute("datetime"), /^\d{4}-\d\d-\d\dT/);
    assert.equal(await alice.locator("li.day").count(), 1, "one day separator");

    // Bob leaves: Alice is told.
    await bob.context().close();
    await alice.waitForFunction(() =>
      [...document.querySelectorAll("li.notice")].some((e) => e.textContent === "bob left"),
    );
    assertClean(alice);
    await alice.context().close();
  });

  test("a device's message reaches the page, marked as a device", async () => {
    const carol = await person(browser, hub, "carol", { room: "greenhouse" });
    // A device publishes over MQTT (mosquitto_pub, QoS 1).
    await hub.publish("greenhouse", "soil moisture 41%", "probe-7");
    await waitForText(carol, "soil moisture 41%");
    // A script posts over HTTP.
    await hub.post("greenhouse", "backup done", "cron");
    await waitForText(carol, "backup done");
    const shown = await shownMessages(carol);
    assert.deepEqual(
      shown.map((m) => [m.from, m.via, m.device]),
      [
        ["probe-7", "mqtt", true],
        ["cron", "http", false],
      ],
    );
    assert.equal(await carol.locator('li.msg[data-from="probe-7"] .via').textContent(), "device");
    assert.equal(await carol.locator('li.msg[data-from="cron"] .via').textContent(), "http");
    assertClean(carol);
    await carol.context().close();
  });

  test("user text is shown as text, never run as HTML", async () => {
    const mallory = await person(browser, hub, "<b>mallory</b>", { room: "xss" });
    const victim = await person(browser, hub, "victim", { room: "xss" });
    const attacks = [
      "<img src=x onerror=alert(1)>",
      "<script>alert(2)</script>",
      '"><svg onload=alert(3)>',
    ];
    await say(mallory, attacks[0]);
    await say(mallory, attacks[1]);
    await hub.post("xss", attacks[2], "<i>script</i>");
    for (const page of [mallory, victim]) {
      for (const text of attacks) await waitForText(page, text);
      // Give any injected handler the chance to run.
      await page.waitForTimeout(300);
      assert.equal(await page.locator("#scroller img, #scroller script, #scroller svg, #scroller b, #scroller i").count(), 0);
      assert.deepEqual(page.dialogs, [], "no dialog fired");
      assertClean(page);
    }
    const froms = (await shownMessages(victim)).map((m) => m.from);
    assert.ok(froms.includes("<b>mallory</b>") && froms.includes("<i>script</i>"), froms.join());

    // The page is served with a strict Content-Security-Policy.
    const reply = await victim.request.get(`${hub.url}/`);
    const csp = reply.headers()["content-security-policy"];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self' ws: wss:/);
    assert.equal(reply.headers()["x-content-type-options"], "nosniff");
    await mallory.context().close();
    await victim.context().close();
  });

  test("room list, unread counts and the room-name rule", async () => {
    const dave = await person(browser, hub, "dave", { room: "garden" });
    await joinRoom(dave, "porch");
    // A message in the room not open shows as unread.
    await hub.post("garden", "the tomatoes are ripe", "erin");
    const garden = dave.locator('#my-rooms button[data-room="garden"]');
    await dave.waitForFunction(
      () => document.querySelector('#my-rooms button[data-room="garden"]')?.dataset.unread === "1",
    );
    assert.equal(await garden.locator(".unread").textContent(), "1");
    assert.match(await dave.title(), /^\(1\) #porch/);
    await garden.click();
    await waitForText(dave, "the tomatoes are ripe");
    await dave.waitForFunction(
      () => document.querySelector('#my-rooms button[data-room="garden"]')?.dataset.unread === "0",
    );

    // Rooms elsewhere on the hub are listed with who is online, and joinable.
    await hub.post("attic", "dusty", "erin");
    await dave.reload();
    await dave.waitForSelector('#hub-rooms button[data-room="attic"]');
    await dave.waitForSelector('#hub-rooms button[data-room="kitchen"]');
    await dave.click('#hub-rooms button[data-room="attic"]');
    await waitForText(dave, "dusty");
    await dave.waitForSelector('#my-rooms button[data-room="attic"][aria-current="page"]');

    // A link to a room opens it.
    await dave.goto(`${hub.url}/#cellar`);
    await dave.waitForSelector('#my-rooms button[data-room="cellar"][aria-current="page"]');
    assert.equal(await dave.title(), "#cellar · Hubbub");

    // The rule is explained as the name is typed, with a fix offered.
    await dave.fill("#join-name", "My Room");
    assert.equal(await dave.textContent("#join-hint"), "Use lowercase letters only. Use “my-room”");
    assert.ok(await dave.isDisabled("#join-button"));
    await dave.click("#join-hint button");
    assert.equal(await dave.inputValue("#join-name"), "my-room");
    assert.ok(!(await dave.isDisabled("#join-button")));
    assert.match(await dave.textContent("#join-hint"), /lowercase letters a–z, digits 0–9, _ and -/);
    await dave.fill("#join-name", "bad!");
    assert.equal(await dave.textContent("#join-hint"), "“!” is not allowed here. Use “bad”");
    assertClean(dave);
    await dave.context().close();
  });

  test("scrolling up loads older history; new messages wait behind a pill", async () => {
    for (let i = 1; i <= 120; i += 1) await hub.post("archive", `old ${i}`, "logger");
    const frank = await person(browser, hub, "frank", { room: "archive" });
    await waitForText(frank, "old 120");
    const first = await shownTexts(frank);
    assert.ok(first.length < 120, `only the latest page at first, got ${first.length}`);
    // At the bottom: the newest is in view.
    assert.ok(await frank.locator("li.msg", { hasText: "old 120" }).isVisible());

    // Scroll to the top until the start of the room.
    for (let i = 0; i < 20; i += 1) {
      await frank.evaluate(() => {
        document.getElementById("scroller").scrollTop = 0;
      });
      await frank.waitForTimeout(150);
      if ((await frank.textContent(".top-note")) === "This is the start of #archive.") break;
    }
    const all = await shownMessages(frank);
    assert.deepEqual(
      all.map((m) => m.text),
      Array.from({ length: 120 }, (_, i) => `old ${i + 1}`),
    );

    // Scrolled up, new messages do not move the view; a pill counts them.
    await frank.evaluate(() => {
      document.getElementById("scroller").scrollTop = 200;
    });
    await frank.waitForTimeout(100);
    const top = await frank.evaluate(() => document.getElementById("scroller").scrollTop);
    await hub.post("archive", "new 1", "logger");
    await hub.post("archive", "new 2", "logger");
    await frank.waitForSelector("#new-pill:not([hidden])");
    await frank.waitForFunction(() => document.getElementById("new-pill").textContent.startsWith("2 new messages"));
    assert.equal(await frank.evaluate(() => document.getElementById("scroller").scrollTop), top);
    await frank.click("#new-pill");
    await frank.waitForSelector("#new-pill", { state: "hidden" });
    assert.ok(await frank.locator("li.msg", { hasText: "new 2" }).isVisible());
    assertClean(frank);
    await frank.context().close();
  });
});
