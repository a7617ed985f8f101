// The app on a desktop (1280x800) and a phone (360x740), light and dark:
// checks the layout and takes the screenshots for docs/. They are written to
// out/, or to docs/ when HUBBUB_SCREENSHOTS=1.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { assertClean, DESKTOP, joinRoom, launch, person, PHONE, say, waitForText } from "./lib/browser.mjs";
import { Hub } from "./lib/hub.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const SHOTS =
  process.env.HUBBUB_SCREENSHOTS === "1" ? resolve(here, "../../docs") : join(here, "out");

const CONFIG = `
[rooms.declare.kitchen]
title = "Family kitchen"

[rooms.declare.garden]
title = "Veg patch"
`;

const LOOK = { locale: "en-GB", timezoneId: "UTC" };

describe("layout", () => {
  let hub;
  let browser;
  let tom;
  let lena;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    hub = await new Hub({ config: CONFIG }).start();
    browser = await launch();
    // A conversation to look at.
    tom = await person(browser, hub, "tom", { room: "kitchen", ...LOOK });
    lena = await person(browser, hub, "lena", { room: "garden", ...LOOK });
    await joinRoom(lena, "kitchen");
    const maya = await person(browser, hub, "maya", { room: "garden", ...LOOK });
    await joinRoom(maya, "kitchen");
    await hub.publish("workshop", "Drill batteries are charged.", "charger-2");
    await say(tom, "Anyone know why the fridge keeps beeping?");
    await hub.publish("kitchen", "Door open for 5 min · 7.8 °C", "fridge");
    await say(maya, "That's me, unloading the groceries.");
    await say(maya, "Closing it now.");
    await hub.publish("kitchen", "Door closed · 6.1 °C", "fridge");
    await say(lena, "Can someone bring the big pot to the garden later?\nWe're making soup tonight.");
    await say(tom, "On it!");
    await hub.publish("garden", "Soil moisture 41 %", "bed-3");
    await hub.publish("garden", "Watering zone 2 for 10 min", "valve-2");
    await waitForText(maya, "On it!");
    await maya.context().close();
  });

  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  /** Maya's page in `kitchen` (and `garden`), with Lena typing. */
  async function maya(viewport, colorScheme) {
    const page = await person(browser, hub, "maya", { viewport, colorScheme, ...LOOK });
    await joinRoom(page, "garden");
    await joinRoom(page, "kitchen");
    await waitForText(page, "On it!");
    await hub.post("garden", "Rain expected at 18:00", "weather");
    await page.waitForFunction(
      () => document.querySelector('#my-rooms button[data-room="garden"]')?.dataset.unread === "1",
    );
    await page.fill("#text", "I'll bring bread");
    // Lena types (the page announces it at most every few seconds).
    await lena.click("#text");
    for (let i = 0; i < 40; i += 1) {
      await lena.keyboard.type("x");
      if ((await page.textContent("#typing")) === "lena is typing…") break;
      await page.waitForTimeout(100);
    }
    assert.equal(await page.textContent("#typing"), "lena is typing…");
    return page;
  }

  test("desktop: rooms beside the chat", async () => {
    const page = await maya(DESKTOP, "light");
    const side = await page.locator("#sidebar").boundingBox();
    const chat = await page.locator("main").boundingBox();
    assert.ok(side.width > 200 && side.x === 0, "sidebar on the left");
    assert.ok(chat.x >= side.width - 1 && chat.x + chat.width <= DESKTOP.width + 1, "chat beside it");
    assert.ok(!(await page.isVisible("#menu")), "no drawer button");
    await page.screenshot({ path: join(SHOTS, "screenshot-desktop.png") });
    assertClean(page);
    await page.context().close();
  });

  test("phone: one column, rooms in a drawer", async () => {
    const page = await maya(PHONE, "light");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `no sideways scrolling (${width}px)`);
    const side = await page.locator("#sidebar").boundingBox();
    assert.ok(side.x + side.width <= 0, "the rooms drawer is closed");
    const composer = await page.locator("#composer").boundingBox();
    assert.ok(composer.y + composer.height <= PHONE.height, "the composer is on screen");
    assert.ok(await page.isVisible("#menu"));
    await page.screenshot({ path: join(SHOTS, "screenshot-phone.png") });
    await page.click("#menu");
    await page.waitForTimeout(300);
    const open = await page.locator("#sidebar").boundingBox();
    assert.equal(open.x, 0, "the drawer opens");
    await page.screenshot({ path: join(SHOTS, "screenshot-phone-rooms.png") });
    await page.click('#my-rooms button[data-room="garden"]');
    await waitForText(page, "Rain expected at 18:00");
    await page.waitForTimeout(300);
    assert.ok((await page.locator("#sidebar").boundingBox()).x + side.width <= 0, "picking a room closes it");
    assertClean(page);
    await page.context().close();
  });

  test("dark theme follows the system", async () => {
    const page = await maya(DESKTOP, "dark");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, "rgb(22, 24, 29)");
    await page.screenshot({ path: join(SHOTS, "screenshot-dark.png") });
    assertClean(page);
    await page.context().close();
  });
});
