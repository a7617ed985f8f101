// The app's browser-free modules, run directly in node: the room model's
// resume arithmetic and the naming rules.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Room } from "../../bridge/web/room.js";
import { nickProblem, roomProblem, suggestRoom } from "../../bridge/web/rules.js";

const msg = (seq) => ({ room: "r", seq, from: "a", text: `m${seq}`, ts: "2026-01-01T00:00:00.000Z", via: "ws" });
const joined = (fields) => ({ type: "joined", room: "r", epoch: "e1", last_seq: 0, online: [], reset: false, ...fields });

describe("the room model", () => {
  test("a first join starts at the end and pages back", () => {
    const room = new Room("r");
    assert.equal(room.joinedAs(joined({ last_seq: 10 }), undefined), false);
    assert.equal(room.hi, 10);
    assert.equal(room.unread, 0, "a room seen for the first time starts out read");
    assert.equal(room.live(msg(11)), true);
    assert.equal(room.hi, 11);
    assert.equal(room.older([msg(9), msg(10)], 50), 2);
    assert.equal(room.top, true, "a short page is the start");
    assert.deepEqual(
      room.sorted().map((m) => m.seq),
      [9, 10, 11],
    );
    assert.equal(room.unread, 1);
    assert.equal(room.markRead(), true);
    assert.equal(room.unread, 0);
  });

  test("a resume takes the replay once and skips seqs lost to retention", () => {
    const room = new Room("r");
    room.joinedAs(joined({ last_seq: 2 }), undefined);
    room.live(msg(3));
    room.joinedAs(joined({ last_seq: 9 }), room.hi);
    // Retention dropped 4..6 while away: the replay starts at 7.
    assert.equal(room.live(msg(7)), true);
    assert.equal(room.live(msg(8)), true);
    assert.equal(room.live(msg(8)), false, "never twice");
    assert.equal(room.hi, 8);
  });

  test("a gap is paged until filled, with live messages kept meanwhile", () => {
    const room = new Room("r");
    room.joinedAs(joined({ last_seq: 1 }), undefined);
    room.joinedAs(joined({ last_seq: 20 }), 1);
    for (let s = 2; s <= 6; s += 1) room.live(msg(s));
    room.gapTo = 20;
    room.live(msg(21));
    assert.equal(room.hi, 6, "not past the gap");
    const page = Array.from({ length: 10 }, (_, i) => msg(7 + i));
    assert.equal(room.gapPage(page), 16, "ask again after 16");
    assert.equal(room.gapPage([17, 18, 19, 20, 21].map(msg)), null, "filled");
    assert.equal(room.hi, 21);
  });

  test("another epoch drops what was held", () => {
    const room = new Room("r", { epoch: "e1", seq: 5 });
    room.joinedAs(joined({ last_seq: 5 }), undefined);
    room.live(msg(6));
    assert.equal(room.unread, 1);
    assert.equal(room.joinedAs(joined({ epoch: "e2", last_seq: 3, reset: true }), 6), true);
    assert.equal(room.messages.size, 0);
    assert.equal(room.hi, 3);
    assert.equal(room.live(msg(1)), false, "the replay after a reset is not wanted");
    assert.equal(room.live(msg(4)), true);
  });
});

describe("the naming rules", () => {
  test("room names are explained and fixed", () => {
    assert.equal(roomProblem("kitchen_2-b"), null);
    assert.equal(roomProblem(""), null);
    assert.equal(roomProblem("Kitchen"), "Use lowercase letters only.");
    assert.equal(roomProblem("a b"), "No spaces: use - or _ instead.");
    assert.equal(roomProblem("a.b"), "“.” is not allowed here.");
    assert.equal(roomProblem("x".repeat(65)), "At most 64 characters (this is 65).");
    assert.equal(suggestRoom("  Living Room! "), "living-room");
  });

  test("nicknames follow the hub's rule", () => {
    assert.equal(nickProblem("bob"), null);
    assert.equal(nickProblem(""), "Pick a nickname.");
    assert.equal(nickProblem(" bob"), "No spaces at the start or end.");
    assert.equal(nickProblem("b\u0007b"), "No control characters.");
    assert.equal(nickProblem("x".repeat(33)), "At most 32 characters.");
    assert.equal(nickProblem("é".repeat(32)), null, "characters, not bytes");
  });
});
