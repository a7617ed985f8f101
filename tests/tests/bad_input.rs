//! Every bad input gets its error code, and the connection stays usable;
//! only protocol abuse (binary frames, oversized frames) closes it.

use hubbub_tests::*;
use serde_json::json;

/// max_message_bytes = 1024, so the frame limit is 8 × 1024 + 4096 = 12288 bytes.
const SMALL: &str = "[limits]\nmax_message_bytes = 1024\n";
const FRAME_LIMIT: usize = 8 * 1024 + 4096;

const CLOSED: &str =
    "[rooms]\nauto_create = false\n\n[rooms.declare.kitchen]\ntitle = \"Kitchen\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_json_and_bad_op() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("mallory").await;
    c.join("lab").await;

    for junk in ["{not json", "", "\"unterminated", "{\"op\":\"post\",}"] {
        c.send_text(junk).await;
        c.expect_error("bad_json").await;
        c.ping().await;
    }
    for frame in [
        json!({"op":"dance"}),
        json!({"room":"lab","text":"no op"}),
        json!({"op":"join"}),
        json!({"op":"post","room":"lab"}),
        json!({"op":"post","text":"where to?"}),
        json!({"op":"history"}),
    ] {
        c.send_json(&frame).await;
        c.expect_error("bad_op").await;
        c.ping().await;
    }
    // Still fully usable.
    assert_eq!(c.post("lab", "still here").await["seq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_nick_and_already_joined() {
    let hub = Hub::start_default();
    let mut c = hub.ws().await;
    for nick in ["", &"n".repeat(33), "bell\u{7}", "new\nline"] {
        c.send_json(&json!({"op":"hello","nick":nick})).await;
        c.expect_error("bad_nick").await;
        c.ping().await;
    }
    let long = "n".repeat(32);
    c.hello(&long).await;
    c.join("lab").await;
    c.send_json(&json!({"op":"hello","nick":"late"})).await;
    c.expect_error("already_joined").await;
    c.ping().await;
    c.post("lab", "hi").await;
    let m = c.recv_until("message").await;
    assert_eq!(
        m["from"],
        json!(long),
        "the nick stays the one from before the join"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_room() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("mallory").await;
    for room in [
        "Kitchen".to_string(),
        "two words".into(),
        String::new(),
        "x".repeat(65),
        "caf\u{e9}".into(),
        "a/b".into(),
    ] {
        c.send_json(&json!({"op":"join","room":room})).await;
        let e = c.expect_error("bad_room").await;
        assert!(
            e["message"].as_str().unwrap().contains("64"),
            "the message states the rule: {e}"
        );
        c.ping().await;
        c.send_json(&json!({"op":"history","room":room})).await;
        c.expect_error("bad_room").await;
        c.ping().await;
    }
    // 64 characters is fine.
    c.join(&"x".repeat(64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_too_large_and_empty_texts() {
    let hub = Hub::with_config(SMALL);
    let mut c = hub.ws().await;
    let welcome = c.hello("mallory").await;
    assert_eq!(welcome["max_message_bytes"], 1024, "{welcome}");
    c.join("lab").await;

    c.send_post("lab", &"a".repeat(1025), Some("big-1")).await;
    let e = c.expect_error("too_large").await;
    assert_eq!(e["ref"], "big-1", "the ref is echoed: {e}");
    assert!(e["message"].as_str().unwrap().contains("1024"), "{e}");
    c.ping().await;

    // The limit is in bytes, not characters: 513 × 'é' = 1026 bytes.
    c.send_post("lab", &"\u{e9}".repeat(513), None).await;
    c.expect_error("too_large").await;
    c.ping().await;

    for (text, r) in [("", "e-1"), ("   ", "e-2"), (" \n\t ", "e-3")] {
        c.send_post("lab", text, Some(r)).await;
        let e = c.expect_error("empty").await;
        assert_eq!(e["ref"], r, "{e}");
        c.ping().await;
    }

    // Exactly at the limit is accepted.
    let ok = "b".repeat(1024);
    let ack = c.post("lab", &ok).await;
    assert_eq!(ack["seq"], 1, "nothing was stored for the refused posts");
    let history = hub.http().all_messages("lab").await;
    assert_eq!(history.len(), 1);
    assert_eq!(text_of(&history[0]), ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_ref() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("mallory").await;
    c.join("lab").await;
    for r in [String::new(), "r".repeat(129), "line\nbreak".into()] {
        c.send_post("lab", "text", Some(&r)).await;
        c.expect_error("bad_ref").await;
        c.ping().await;
    }
    let r = "r".repeat(128);
    let ack = c.post_ref("lab", "text", &r).await;
    assert_eq!(ack["seq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_not_joined() {
    let hub = Hub::start_default();
    let mut other = hub.ws_as("owner").await;
    other.join("elsewhere").await;
    let mut c = hub.ws_as("mallory").await;
    c.send_post("elsewhere", "sneaky", Some("n-1")).await;
    let e = c.expect_error("not_joined").await;
    assert_eq!(e["ref"], "n-1");
    c.ping().await;
    c.send_json(&json!({"op":"typing","room":"elsewhere"}))
        .await;
    c.expect_error("not_joined").await;
    c.ping().await;
    c.send_json(&json!({"op":"leave","room":"elsewhere"})).await;
    c.expect_error("not_joined").await;
    c.ping().await;
    // history does not need a join
    assert!(c.history("elsewhere", json!({})).await.is_empty());
    // and nothing was posted
    other.ping().await;
    assert_eq!(other.unread(), 0, "nothing reached the room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_history_of_a_room_that_does_not_exist() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("mallory").await;
    c.send_json(&json!({"op":"history","room":"never-created"}))
        .await;
    c.expect_error("no_such_room").await;
    c.ping().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_no_such_room_without_auto_create() {
    let hub = Hub::with_config(CLOSED);
    let mut c = hub.ws_as("mallory").await;
    c.send_json(&json!({"op":"join","room":"garage"})).await;
    c.expect_error("no_such_room").await;
    c.ping().await;
    c.send_json(&json!({"op":"history","room":"garage"})).await;
    c.expect_error("no_such_room").await;
    c.ping().await;
    let joined = c.join("kitchen").await;
    assert_eq!(joined["title"], "Kitchen");
    c.post("kitchen", "declared rooms work").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_binary_frame_closes_with_1003() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("mallory").await;
    c.join("lab").await;
    c.send_binary(br#"{"op":"ping"}"#.to_vec()).await;
    let close = c.expect_close().await;
    assert_eq!(close.code, Some(1003), "{close:?}");
    // The hub itself is fine.
    let mut d = hub.ws_as("dora").await;
    d.ping().await;
}

/// A post frame of exactly `len` bytes whose text is `len - overhead` bytes.
fn frame_of_len(len: usize) -> String {
    let head = r#"{"op":"post","room":"lab","text":""#;
    let tail = r#""}"#;
    let frame = format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()));
    assert_eq!(frame.len(), len);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_frame_at_the_limit_is_refused_politely_and_over_it_closes_with_1009() {
    let hub = Hub::with_config(SMALL);
    let mut c = hub.ws_as("mallory").await;
    c.join("lab").await;
    // At the frame limit: too_large, connection stays.
    c.send_text(frame_of_len(FRAME_LIMIT)).await;
    c.expect_error("too_large").await;
    c.ping().await;
    // One byte over: closed with 1009.
    c.send_text(frame_of_len(FRAME_LIMIT + 1)).await;
    let close = c.expect_close().await;
    assert_eq!(close.code, Some(1009), "{close:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_a_frame_far_over_the_limit_closes_with_1009() {
    let hub = Hub::with_config(SMALL);
    let mut c = hub.ws_as("mallory").await;
    c.join("lab").await;
    // 200 000 bytes, about 16 × the 12 288-byte frame limit.
    c.send_text(frame_of_len(200_000)).await;
    let close = c.expect_close().await;
    assert_eq!(close.code, Some(1009), "{close:?}");
}

// ---- HTTP ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_room_is_400() {
    let hub = Hub::start_default();
    let http = hub.http();
    let long = "x".repeat(65);
    for room in ["Kitchen", "two%20words", "caf%C3%A9", long.as_str(), "a.b"] {
        let reply = http.post_json(room, &json!({"text":"hi"})).await;
        let e = reply.assert_error(400, "bad_room");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("64"),
            "the message states the rule: {e}"
        );
        http.messages(room, "").await.assert_error(400, "bad_room");
    }
    assert!(
        hub.http().rooms().await["rooms"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no room was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_too_large_is_413_and_empty_is_400() {
    let hub = Hub::with_config(SMALL);
    let http = hub.http();
    http.post_json("lab", &json!({"text": "a".repeat(1025)}))
        .await
        .assert_error(413, "too_large");
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "text/plain")],
        vec![b'a'; 1025],
    )
    .await
    .assert_error(413, "too_large");
    http.post_json("lab", &json!({"text": ""}))
        .await
        .assert_error(400, "empty");
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "text/plain")],
        b"  \n ".to_vec(),
    )
    .await
    .assert_error(400, "empty");
    // Far over the frame limit too.
    http.post_json("lab", &json!({"text": "a".repeat(100_000)}))
        .await
        .assert_error(413, "too_large");
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "text/plain")],
        vec![b'a'; 100_000],
    )
    .await
    .assert_error(413, "too_large");
    let m = http.post_text("lab", &"a".repeat(1024)).await;
    assert_eq!(seq_of(&m), 1, "nothing was stored for the refused posts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_ref_is_400() {
    let hub = Hub::start_default();
    let http = hub.http();
    let long = "k".repeat(129);
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "text/plain"), ("idempotency-key", &long)],
        b"hi".to_vec(),
    )
    .await
    .assert_error(400, "bad_ref");
    http.post_json("lab", &json!({"text":"hi","ref":""}))
        .await
        .assert_error(400, "bad_ref");
    http.post_json("lab", &json!({"text":"hi","ref": long}))
        .await
        .assert_error(400, "bad_ref");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_no_such_room_is_404() {
    let hub = Hub::with_config(CLOSED);
    let http = hub.http();
    http.post_json("garage", &json!({"text":"hi"}))
        .await
        .assert_error(404, "no_such_room");
    http.post(
        "/api/rooms/garage/messages",
        &[("content-type", "text/plain")],
        b"hi".to_vec(),
    )
    .await
    .assert_error(404, "no_such_room");
    http.messages("garage", "")
        .await
        .assert_error(404, "no_such_room");
    http.get("/api/rooms/garage/events")
        .await
        .assert_error(404, "no_such_room");
    assert_eq!(
        http.post_json("kitchen", &json!({"text":"hi"}))
            .await
            .status,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_reading_a_room_that_does_not_exist_is_404() {
    let hub = Hub::start_default();
    let http = hub.http();
    http.messages("never-created", "")
        .await
        .assert_error(404, "no_such_room");
    assert!(
        http.room("never-created").await.is_none(),
        "reading does not create the room"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_query_parameters_are_400() {
    let hub = Hub::start_default();
    let http = hub.http();
    for i in 1..=3 {
        http.post_text("lab", &format!("m{i}")).await;
    }
    for query in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "before=3&after=1",
        "after=-1",
        "before=abc",
    ] {
        let reply = http.messages("lab", query).await;
        reply.assert_error_status(400);
    }
    assert_eq!(http.message_list("lab", "limit=1").await.len(), 1);
    assert_eq!(http.message_list("lab", "limit=500").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_non_utf8_and_malformed_bodies_are_400() {
    let hub = Hub::start_default();
    let http = hub.http();
    let bad_utf8 = vec![b'h', b'i', 0xff, 0xfe, b'!'];
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "text/plain")],
        bad_utf8.clone(),
    )
    .await
    .assert_error_status(400);
    let mut json_bytes = br#"{"text":"hi "#.to_vec();
    json_bytes.extend_from_slice(&[0xc3, 0x28]);
    json_bytes.extend_from_slice(br#""}"#);
    http.post(
        "/api/rooms/lab/messages",
        &[("content-type", "application/json")],
        json_bytes,
    )
    .await
    .assert_error_status(400);
    for body in [
        &b"{oops"[..],
        br#"{"ref":"no-text"}"#,
        br#"{"text":5}"#,
        b"[]",
    ] {
        http.post(
            "/api/rooms/lab/messages",
            &[("content-type", "application/json")],
            body.to_vec(),
        )
        .await
        .assert_error_status(400);
    }
    // Nothing was stored.
    let m = http.post_text("lab", "fine").await;
    assert_eq!(seq_of(&m), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_unknown_path_is_404_with_the_error_shape() {
    let hub = Hub::start_default();
    hub.http()
        .get("/api/no-such-thing")
        .await
        .assert_error_status(404);
}
