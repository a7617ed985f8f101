//! Accounts, room rules and limits on the WebSocket chat: who may upgrade,
//! the name in force, a private room's join and history, cookies and their
//! origin, the per-connection rate limit (it trips, refuses only what is
//! over, and recovers), a flood that does not slow anyone else, and the
//! connection and room limits; live streams end when a room closes to them.

mod access_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_support::*;
use futures_util::{SinkExt, StreamExt};
use hubbub_tests::*;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_refused_on_join_and_history_to_non_members() {
    let hub = start(true, "");
    let alice = login_token(&hub, "alice").await;
    let bob = login_token(&hub, "bob").await;

    let mut member = ws_as_user(&hub, &alice).await;
    let welcome = member.hello("alice").await;
    assert_eq!(welcome["kind"], "user", "{welcome}");
    member.join("secret").await;
    member.post_ref("secret", "for alice only", "a-1").await;
    let message = member.recv_until("message").await;
    assert_eq!(message["from"], "alice");

    let mut guest = hub.ws().await;
    guest
        .send_json(&json!({"op": "hello", "nick": "alice"}))
        .await;
    let welcome = guest.recv_until("welcome").await;
    assert_eq!(welcome["nick"], "guest:alice", "{welcome}");
    let mut other = ws_as_user(&hub, &bob).await;
    for ws in [&mut guest, &mut other] {
        ws.send_json(&json!({"op": "join", "room": "secret"})).await;
        let refused = ws.expect_error("no_such_room").await;
        assert_eq!(refused["op"], "join", "{refused}");
        ws.send_json(&json!({"op": "history", "room": "secret"}))
            .await;
        ws.expect_error("no_such_room").await;
        ws.ping().await;
    }
    // Let bob in with the admin API: his next join works.
    let root = login_token(&hub, "root").await;
    let rules = json!({"private": true, "members": ["alice", "bob"]});
    set_secret_rules(&hub, &root, rules).await;
    let joined = other.join_with("secret", Some(0), None).await;
    assert_eq!(joined["last_seq"], 1, "{joined}");
    assert_eq!(other.recv_until("message").await["text"], "for alice only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_of_a_room_that_closes_to_them_end_at_once() {
    let hub = start(true, "");
    let (alice, bob, root) = (
        login_token(&hub, "alice").await,
        login_token(&hub, "bob").await,
        login_token(&hub, "root").await,
    );
    let both = json!({"private": true, "members": ["alice", "bob"]});
    set_secret_rules(&hub, &root, both).await;
    let mut stays = ws_as_user(&hub, &alice).await;
    stays.join("secret").await;
    let mut leaves = ws_as_user(&hub, &bob).await;
    leaves.join("secret").await;
    let mut stream = sse(&hub, Some(&bob), "secret")
        .await
        .expect("bob's SSE stream");

    // Bob is taken off the room's list (with the CLI, as an admin would).
    let (ok, out, err) = hub.cli(
        &["room", "set", "secret", "--private", "--members", "alice"],
        "",
    );
    assert!(ok, "{out}{err}");
    let closed = leaves.expect_close().await;
    assert_eq!(closed.code, Some(4003), "{closed:?}");
    assert!(closed.reason.starts_with("access_changed"), "{closed:?}");
    let ended = stream.next_event().await;
    assert_eq!(ended.event, "error");
    assert!(ended.data.contains("access_changed"), "{}", ended.data);

    // Nothing more reaches him; alice goes on as before.
    stays.post_ref("secret", "after bob left", "a-2").await;
    assert_eq!(stays.recv_until("message").await["text"], "after bob left");
    assert!(stream.try_next(Duration::from_millis(300)).await.is_none());
    let mut again = ws_as_user(&hub, &bob).await;
    again
        .send_json(&json!({"op": "join", "room": "secret"}))
        .await;
    again.expect_error("no_such_room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_may_read_but_neither_post_nor_type() {
    let hub = start(
        true,
        "[rooms.declare.news]\nprivate = true\nwriters = [\"alice\"]\nreaders = [\"bob\"]\n",
    );
    let alice = login_token(&hub, "alice").await;
    let bob = login_token(&hub, "bob").await;
    let mut writer = ws_as_user(&hub, &alice).await;
    writer.join("news").await;
    writer.post("news", "extra, extra").await;
    let mut reader = ws_as_user(&hub, &bob).await;
    reader.join_with("news", Some(0), None).await;
    assert_eq!(reader.recv_until("message").await["text"], "extra, extra");
    reader
        .send_post("news", "letter to the editor", Some("l-1"))
        .await;
    let refused = reader.expect_error("not_allowed").await;
    assert_eq!(refused["ref"], "l-1", "{refused}");
    reader
        .send_json(&json!({"op": "typing", "room": "news"}))
        .await;
    reader.expect_error("not_allowed").await;
    reader.ping().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_in_force_is_the_users_and_guests_carry_the_prefix() {
    let hub = start(true, "");
    let alice = login_token(&hub, "alice").await;
    let mut ws = ws_as_user(&hub, &alice).await;
    ws.send_json(&json!({"op": "hello", "nick": "mallory"}))
        .await;
    let refused = ws.expect_error("bad_nick").await;
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("alice")),
        "{refused}"
    );
    // Without a hello a user is already itself.
    ws.join("lobby").await;
    ws.post("lobby", "no hello needed").await;
    assert_eq!(ws.recv_until("message").await["from"], "alice");

    // Guests: the nick they give, with the prefix; `guest-N` without one.
    let mut guest = hub.ws().await;
    guest
        .send_json(&json!({"op": "hello", "nick": "bob"}))
        .await;
    let welcome = guest.recv_until("welcome").await;
    assert_eq!(
        (welcome["nick"].as_str(), welcome["kind"].as_str()),
        (Some("guest:bob"), Some("guest"))
    );
    guest.join("lobby").await;
    guest.post("lobby", "hi").await;
    assert_eq!(guest.recv_until("message").await["from"], "guest:bob");
    let mut nameless = hub.ws().await;
    nameless.join("lobby").await;
    nameless.post("lobby", "hey").await;
    let from = nameless.recv_until("message").await["from"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(from.starts_with("guest:guest-"), "{from}");

    // The token may come as a query parameter, for clients without headers.
    let by_query = format!("{}?token={alice}", hub.ws_url());
    let mut ws = WsClient::try_connect_with_headers(&by_query, &[])
        .await
        .unwrap_or_else(|(s, b)| panic!("?token= refused: {s} {b}"));
    assert_eq!(ws.hello("alice").await["kind"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_missing_logins_are_refused_before_the_upgrade() {
    let hub = start(false, "");
    let url = hub.ws_url();
    let (status, body) = ws_refused(&url, &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("login_required"))
    );
    let (status, body) = ws_refused(&url, &[("authorization", "Bearer made-up")]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_token"))
    );
    login(&hub, "alice", "wrong password")
        .await
        .assert_error(401, "bad_credentials");

    // A token works until logout, then it is refused, however it is sent.
    let token = login_token(&hub, "alice").await;
    let mut ws = ws_as_user(&hub, &token).await;
    ws.join("lobby").await;
    let out = call(&hub, Some(&token), Method::POST, "/api/logout", None).await;
    assert_eq!(out.json()["ended"], true);
    let auth = bearer(&token);
    let (status, body) = ws_refused(&url, &[("authorization", &auth)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_token"))
    );
    let (status, _) = ws_refused(&format!("{url}?token={token}"), &[]).await;
    assert_eq!(status, 401);
    let cookie = format!("hubbub_session={token}");
    let (status, body) = ws_refused(&url, &[("cookie", &cookie)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("login_required"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_works_from_the_hubs_own_pages_only() {
    let hub = start(true, "");
    let token = login_token(&hub, "alice").await;
    let cookie = format!("hubbub_session={token}");
    let own = format!("http://{}", hub.addr());
    let mut ws =
        WsClient::try_connect_with_headers(&hub.ws_url(), &[("cookie", &cookie), ("origin", &own)])
            .await
            .unwrap_or_else(|(s, b)| panic!("same-origin cookie refused: {s} {b}"));
    assert_eq!(ws.hello("alice").await["kind"], "user");
    ws.join("secret").await;

    let evil = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    let (status, body) = ws_refused(&hub.ws_url(), &evil).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("bad_origin"))
    );
    // A bearer token is never sent by a browser on its own: no origin check.
    let auth = bearer(&token);
    let bearer_from_afar = [
        ("authorization", auth.as_str()),
        ("origin", "https://elsewhere.example"),
    ];
    WsClient::try_connect_with_headers(&hub.ws_url(), &bearer_from_afar)
        .await
        .unwrap_or_else(|(s, b)| panic!("bearer with a foreign origin refused: {s} {b}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_rate_limit_trips_refuses_only_the_excess_and_recovers() {
    let hub = Hub::with_config("[limits]\nmessages_per_second = 5\nmessage_burst = 10\n");
    let mut ws = hub.ws_as("eager").await;
    ws.join("lobby").await;
    for i in 0..40 {
        ws.send_post("lobby", &format!("post {i}"), Some(&format!("r-{i}")))
            .await;
    }
    let (mut acked, mut limited) = (Vec::new(), Vec::new());
    while acked.len() + limited.len() < 40 {
        let v = ws.recv().await;
        match frame_type(&v) {
            "ack" => acked.push(v["ref"].as_str().unwrap_or_default().to_string()),
            "error" => {
                assert_eq!(v["code"], "rate_limited", "{v}");
                assert_eq!(
                    (v["op"].as_str(), v["room"].as_str()),
                    (Some("post"), Some("lobby"))
                );
                assert!(
                    v["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("messages_per_second")),
                    "{v}"
                );
                limited.push(v["ref"].as_str().unwrap_or_default().to_string());
            }
            _ => {}
        }
    }
    assert!(
        acked.len() >= 10,
        "the burst is taken: {} acked",
        acked.len()
    );
    assert!(!limited.is_empty(), "the rate limit tripped");
    // The connection stays open, and exactly the acked posts are stored.
    ws.ping().await;
    let stored: Vec<String> = hub
        .http()
        .all_messages("lobby")
        .await
        .iter()
        .map(|m| m["ref"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut expected = acked.clone();
    expected.sort();
    let mut got = stored.clone();
    got.sort();
    assert_eq!(got, expected, "stored refs are the acked ones");

    // It recovers: once tokens are back, posts are taken again.
    let mut recovered = false;
    for attempt in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ws.send_post("lobby", "later", Some(&format!("later-{attempt}")))
            .await;
        let v = loop {
            let v = ws.recv().await;
            if matches!(frame_type(&v), "ack" | "error") {
                break v;
            }
        };
        if frame_type(&v) == "ack" {
            recovered = true;
            break;
        }
        assert_eq!(v["code"], "rate_limited", "{v}");
    }
    assert!(recovered, "posts are taken again after a pause");
}

/// Opens a raw WebSocket that posts to `room` as fast as the hub reads,
/// until `stop`, reading everything the hub sends; returns how many posts
/// it sent and how many were refused as over the rate.
async fn flood(url: String, room: &'static str, stop: Arc<AtomicBool>) -> (u64, Arc<AtomicU64>) {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("flooder connects");
    let (mut sink, mut stream) = ws.split();
    let limited = Arc::new(AtomicU64::new(0));
    let counted = limited.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(Message::Text(text))) = stream.next().await {
            if text.contains("\"rate_limited\"") {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let join = json!({"op": "join", "room": room}).to_string();
    sink.send(Message::text(join)).await.expect("flooder joins");
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..32 {
            let post = json!({"op": "post", "room": room, "text": format!("flood {sent}")});
            if sink.feed(Message::text(post.to_string())).await.is_err() {
                break;
            }
            sent += 1;
        }
        if sink.flush().await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let _ = sink.close().await;
    reader.abort();
    (sent, limited)
}

/// Median of the times from `speaker` posting to `listener` receiving,
/// over `n` posts one after the other.
async fn median_latency(
    speaker: &mut WsClient,
    listener: &mut WsClient,
    room: &str,
    tag: &str,
    n: usize,
) -> Duration {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let reference = format!("{tag}-{i}");
        let start = Instant::now();
        speaker.send_post(room, "ping", Some(&reference)).await;
        loop {
            let m = listener.recv_until("message").await;
            if m["ref"] == json!(reference) {
                break;
            }
        }
        samples.push(start.elapsed());
        speaker.recv_until("ack").await;
    }
    samples.sort();
    samples[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_client_does_not_delay_another() {
    // The default limits: 100 messages a second, bursts of 200.
    let hub = Hub::start_default();
    let mut speaker = hub.ws_as("speaker").await;
    let mut listener = hub.ws_as("listener").await;
    speaker.join("calm").await;
    listener.join("calm").await;
    median_latency(&mut speaker, &mut listener, "calm", "warm", 5).await;
    let quiet = median_latency(&mut speaker, &mut listener, "calm", "quiet", 30).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flooder = tokio::spawn(flood(hub.ws_url(), "calm", stop.clone()));
    // Let the flood start (its burst goes through), then measure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flooded = median_latency(&mut speaker, &mut listener, "calm", "flooded", 30).await;
    stop.store(true, Ordering::Relaxed);
    let (sent, limited) = flooder.await.expect("the flooder ran");
    let limited = limited.load(Ordering::Relaxed);
    eprintln!("latency quiet {quiet:?}, during the flood {flooded:?}; flood sent {sent}, {limited} refused");
    assert!(
        limited > 0 && sent > 300,
        "it was a flood: {sent} sent, {limited} refused"
    );
    // Generous: scheduling on a busy test machine varies a lot.
    assert!(
        flooded <= quiet * 10,
        "the flood slowed another client's messages from {quiet:?} to {flooded:?}"
    );
    speaker.ping().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_joins_at_most_max_rooms_per_connection() {
    let hub = Hub::with_config("[limits]\nmax_rooms_per_connection = 2\n");
    let mut ws = hub.ws_as("roamer").await;
    ws.join("one").await;
    ws.join("two").await;
    ws.send_json(&json!({"op": "join", "room": "three"})).await;
    let refused = ws.expect_error("too_many_rooms").await;
    assert_eq!(
        (refused["op"].as_str(), refused["room"].as_str()),
        (Some("join"), Some("three"))
    );
    assert!(refused["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_rooms_per_connection")));
    // Joining a room already joined is no new room.
    ws.join("two").await;
    ws.send_json(&json!({"op": "leave", "room": "one"})).await;
    ws.recv_until("left").await;
    ws.join("three").await;
}

/// Retries `connect` until it works: a closed connection frees its place
/// once the hub has noticed the close.
async fn eventually<T, F: std::future::Future<Output = Result<T, (u16, String)>>>(
    mut connect: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        match connect().await {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("still refused: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_sse_connections_are_limited_per_address_and_in_total() {
    let hub = Hub::with_config("[limits]\nmax_connections_per_address = 2\n");
    let url = hub.ws_url();
    let mut first = hub.ws().await;
    let _stream = SseClient::connect(&hub.http_base(), "lobby", None, "").await;
    let (status, body) = ws_refused(&url, &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_connections"))
    );
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_connections_per_address")));
    let sse = SseClient::try_connect(&hub.http_base(), "lobby", "", &[]).await;
    assert!(
        matches!(sse, Err((429, _))),
        "SSE over the limit is refused"
    );
    // Other requests are not connections that stay.
    assert_eq!(hub.http().get("/api/rooms").await.status, 200);
    first.close().await;
    drop(first);
    let mut again = eventually(|| WsClient::try_connect_with_headers(&url, &[])).await;
    again.ping().await;

    let total = Hub::with_config("[limits]\nmax_connections = 1\n");
    let _only = total.ws().await;
    let (status, body) = ws_refused(&total.ws_url(), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("too_many_connections"))
    );
}
