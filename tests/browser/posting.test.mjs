// A post goes pending -> sent, or pending -> failed -> (retry) -> sent, and
// a retry reuses the post's `ref`, so the hub never stores it twice. The
// page's WebSocket runs through a Playwright route that can drop frames.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertClean, launch, person, say, shownMessages, waitForText } from "./lib/browser.mjs";
import { Hub, sleep } from "./lib/hub.mjs";

/**
 * Routes the page's WebSocket through the test. `onPost(frame, forward, reply)`
 * decides about each `post` the page sends; `hold()` true drops what the
 * hub sends. Returns the log of post frames and a way to cut the link.
 */
async function interpose(page, onPost) {
  const state = { posts: [], received: [], hold: false, links: [] };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    state.links.push({ ws, server });
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.op !== "post") return server.send(message);
      state.posts.push(frame);
      onPost(
        frame,
        () => server.send(message),
        (reply) => ws.send(JSON.stringify(reply)),
      );
    });
    server.onMessage((message) => {
      state.received.push(JSON.parse(message));
      if (!state.hold) ws.send(message);
    });
  });
  return state;
}

describe("posting", () => {
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

  test("a refused post shows as failed and is sent again with the same ref", async () => {
    let refuse = true;
    let route;
    const page = await person(browser, hub, "kim", {
      room: "office",
      setup: async (p) => {
        route = await interpose(p, (frame, forward, reply) => {
          if (!refuse) return forward();
          refuse = false;
          reply({ type: "error", code: "store_unavailable", message: "store unavailable (simulated)", ref: frame.ref });
        });
      },
    });
    await say(page, "please arrive once");
    const failed = page.locator('ol.pending-list li[data-status="failed"]');
    await failed.waitFor();
    assert.equal(await failed.locator(".text").textContent(), "please arrive once");
    assert.equal(await failed.locator(".error").textContent(), "store unavailable (simulated)");
    assert.equal(await failed.locator(".status").textContent(), "Not sent");

    await failed.locator("button.retry").click();
    await waitForText(page, "please arrive once");
    await page.waitForSelector("ol.pending-list li", { state: "detached" });
    const [shown] = await shownMessages(page);
    assert.deepEqual([shown.text, shown.own, shown.status], ["please arrive once", true, "sent"]);

    assert.equal(route.posts.length, 2);
    assert.equal(route.posts[0].ref, route.posts[1].ref, "the retry reuses the ref");
    const stored = await hub.history("office");
    assert.deepEqual(
      stored.map((m) => [m.text, m.ref]),
      [["please arrive once", route.posts[0].ref]],
    );
    assertClean(page);
    await page.context().close();
  });

  test("a post whose ack was lost with the connection is not stored twice", async () => {
    let route;
    let first = true;
    const page = await person(browser, hub, "lee", {
      room: "lab",
      setup: async (p) => {
        route = await interpose(p, (_frame, forward) => {
          if (first) {
            // The hub gets it, but the page hears nothing back.
            first = false;
            route.hold = true;
          }
          forward();
        });
      },
    });
    await say(page, "sent just before the link dropped");
    // Stored by the hub, while the page still waits for its ack.
    for (let i = 0; i < 50 && (await hub.history("lab")).length === 0; i += 1) await sleep(100);
    assert.equal((await hub.history("lab")).length, 1);
    await page.waitForSelector('ol.pending-list li[data-status="pending"]');

    // The link drops; the page reconnects, resumes and sends the post again.
    route.hold = false;
    const { ws, server } = route.links[0];
    await ws.close({ code: 4001, reason: "simulated drop" });
    await server.close();
    await waitForText(page, "sent just before the link dropped");
    await page.waitForSelector("ol.pending-list li", { state: "detached" });
    // The resent post is answered as a duplicate of the stored one.
    for (let i = 0; i < 50 && !route.received.some((f) => f.type === "ack" && f.duplicate); i += 1) await sleep(100);

    assert.equal(route.links.length, 2, "reconnected once");
    assert.equal(route.posts.length, 2, "sent twice");
    assert.equal(route.posts[0].ref, route.posts[1].ref, "with the same ref");
    const ack = route.received.find((f) => f.type === "ack" && f.duplicate);
    assert.ok(ack, "the second send was recognised as a repeat");
    const stored = await hub.history("lab");
    assert.equal(stored.length, 1, "stored once");
    const shown = await shownMessages(page);
    assert.deepEqual(
      shown.map((m) => [m.seq, m.text]),
      [[stored[0].seq, "sent just before the link dropped"]],
    );
    assertClean(page);
    await page.context().close();
  });
});
