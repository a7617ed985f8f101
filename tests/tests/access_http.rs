//! Accounts and room rules over HTTP: login, logout and `/api/me`; a
//! private room over REST and SSE for members, other users and guests;
//! guests' names; hubs for users only; the admin API; `hubbub room` taking
//! effect live; the login throttle and the per-address post limit.

mod access_support;

use std::time::Duration;

use access_support::*;
use hubbub_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_invisible_to_non_members_over_rest_and_sse() {
    let hub = start(true, "");
    let alice = login_token(&hub, "alice").await;
    let bob = login_token(&hub, "bob").await;
    let said = post(&hub, Some(&alice), "secret", "the plan", json!({})).await;
    assert_eq!(said.status, 201, "{said:?}");
    assert_eq!(said.json()["from"], "alice");
    post(&hub, None, "lobby", "hello all", json!({"from": "carol"})).await;

    // A guest and another user: not listed, 404 on history, posts and SSE.
    for (who, token) in [("a guest", None), ("bob", Some(bob.as_str()))] {
        let rooms = listed(&hub, token).await;
        assert!(rooms.contains(&"lobby".to_string()), "{who}: {rooms:?}");
        assert!(
            !rooms.contains(&"secret".to_string()),
            "{who} sees secret: {rooms:?}"
        );
        get(&hub, token, "/api/rooms/secret/messages")
            .await
            .assert_error(404, "no_such_room");
        post(&hub, token, "secret", "let me in", json!({}))
            .await
            .assert_error(404, "no_such_room");
        assert_refused(sse(&hub, token, "secret").await, 404, "no_such_room");
    }
    // The refusal looks exactly like a room that does not exist.
    let missing = get(&hub, Some(&bob), "/api/rooms/nowhere/messages").await;
    let hidden = get(&hub, Some(&bob), "/api/rooms/secret/messages").await;
    assert_eq!(
        missing.json()["error"]["message"]
            .as_str()
            .map(|m| m.replace("nowhere", "secret")),
        hidden.json()["error"]["message"].as_str().map(String::from)
    );

    // The member: listed, history, post, and a live SSE stream.
    assert!(listed(&hub, Some(&alice))
        .await
        .contains(&"secret".to_string()));
    let history = get(&hub, Some(&alice), "/api/rooms/secret/messages").await;
    assert_eq!(history.status, 200, "{history:?}");
    assert_eq!(history.json()["messages"][0]["text"], "the plan");
    let mut stream = sse(&hub, Some(&alice), "secret")
        .await
        .unwrap_or_else(|(s, b)| panic!("alice's SSE refused: {s} {b}"));
    assert_eq!(stream.next_event().await.json()["text"], "the plan");
    post(&hub, Some(&alice), "secret", "more", json!({})).await;
    let live = stream.next_event().await.json();
    assert_eq!(
        (live["text"].as_str(), live["from"].as_str()),
        (Some("more"), Some("alice"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_answers_a_token_and_a_cookie_and_refuses_wrong_passwords() {
    let hub = start(true, "");
    let reply = login(&hub, "alice", PASSWORD).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let v = reply.json();
    assert_eq!(
        (v["user"].as_str(), v["admin"].as_bool()),
        (Some("alice"), Some(false))
    );
    assert!(
        v["expires"].as_str().is_some_and(|e| e.ends_with('Z')),
        "{v}"
    );
    let token = v["token"].as_str().expect("a token");
    let cookie = reply.header("set-cookie").expect("a Set-Cookie header");
    assert!(
        cookie.starts_with(&format!("hubbub_session={token};")),
        "{cookie}"
    );
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure over plain HTTP: {cookie}"
    );

    // The cookie and the bearer token both say who this is.
    let by_cookie = format!("theme=dark; hubbub_session={token}");
    let me = hub
        .http()
        .get_with("/api/me", &[("cookie", &by_cookie)])
        .await;
    assert_eq!(me.json()["name"], "alice", "{me:?}");
    let me = get(&hub, Some(token), "/api/me").await.json();
    assert_eq!(
        me,
        json!({"kind": "user", "name": "alice", "admin": false,
        "accounts": true, "guests": true})
    );
    let root = login_token(&hub, "root").await;
    assert_eq!(
        get(&hub, Some(&root), "/api/me").await.json()["admin"],
        true
    );

    // Wrong password and unknown user look the same.
    login(&hub, "alice", "not the password")
        .await
        .assert_error(401, "bad_credentials");
    login(&hub, "mallory", PASSWORD)
        .await
        .assert_error(401, "bad_credentials");
    // Malformed requests.
    let http = hub.http();
    http.post(
        "/api/login",
        &[("content-type", "application/json")],
        b"{".to_vec(),
    )
    .await
    .assert_error(400, "bad_json");
    http.post(
        "/api/login",
        &[],
        br#"{"name":"alice","password":"x"}"#.to_vec(),
    )
    .await
    .assert_error(400, "bad_json");
    let huge = json!({"name": "alice", "password": "x".repeat(100_000)}).to_string();
    http.post(
        "/api/login",
        &[("content-type", "application/json")],
        huge.into_bytes(),
    )
    .await
    .assert_error(413, "too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_refused_after_logout_and_bad_tokens_are_never_guests() {
    let hub = start(true, "");
    let token = login_token(&hub, "alice").await;
    assert_eq!(get(&hub, Some(&token), "/api/rooms").await.status, 200);

    let out = call(&hub, Some(&token), Method::POST, "/api/logout", None).await;
    assert_eq!(out.json(), json!({"ended": true}), "{out:?}");
    let cleared = out.header("set-cookie").expect("the cookie is cleared");
    assert!(
        cleared.starts_with("hubbub_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    for path in ["/api/rooms", "/api/me", "/api/rooms/lobby/messages"] {
        get(&hub, Some(&token), path)
            .await
            .assert_error(401, "bad_token");
    }
    post(&hub, Some(&token), "lobby", "still me?", json!({}))
        .await
        .assert_error(401, "bad_token");
    assert_refused(sse(&hub, Some(&token), "lobby").await, 401, "bad_token");
    let by_query = format!("/api/rooms?token={token}");
    hub.http()
        .get(&by_query)
        .await
        .assert_error(401, "bad_token");
    let again = call(&hub, Some(&token), Method::POST, "/api/logout", None).await;
    assert_eq!(again.json(), json!({"ended": false}));

    // Made-up and malformed credentials are refused, not taken as a guest.
    get(&hub, Some("0123abcd"), "/api/rooms")
        .await
        .assert_error(401, "bad_token");
    hub.http()
        .get_with("/api/rooms", &[("authorization", "Basic YWxpY2U6eA==")])
        .await
        .assert_error(401, "bad_token");
    // A stale cookie, which a browser cannot drop itself, is no cookie.
    let stale = format!("hubbub_session={token}");
    let me = hub.http().get_with("/api/me", &[("cookie", &stale)]).await;
    assert_eq!(me.json()["kind"], "guest", "{me:?}");

    // Revoking every session of a user (`hubbub user revoke`) works the same.
    let first = login_token(&hub, "bob").await;
    let second = login_token(&hub, "bob").await;
    let (ok, out, err) = hub.cli(&["user", "revoke", "bob"], "");
    assert!(ok, "{out}\n{err}");
    for t in [&first, &second] {
        get(&hub, Some(t), "/api/me")
            .await
            .assert_error(401, "bad_token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_carry_the_guest_prefix_and_users_post_as_themselves() {
    let hub = start(true, "");
    let me = get(&hub, None, "/api/me").await.json();
    assert_eq!(
        me,
        json!({"kind": "guest", "name": null, "admin": false,
        "accounts": true, "guests": true})
    );
    let guest = post(&hub, None, "lobby", "hi", json!({"from": "alice"})).await;
    assert_eq!(guest.status, 201, "{guest:?}");
    assert_eq!(guest.json()["from"], "guest:alice");
    let by_query = hub
        .http()
        .post(
            "/api/rooms/lobby/messages?from=dave",
            &[],
            b"plain".to_vec(),
        )
        .await;
    assert_eq!(by_query.json()["from"], "guest:dave");
    let nameless = post(&hub, None, "lobby", "who am I", json!({})).await;
    assert_eq!(nameless.json()["from"], "guest:anonymous");

    let alice = login_token(&hub, "alice").await;
    let own = post(&hub, Some(&alice), "lobby", "me", json!({})).await;
    assert_eq!(own.json()["from"], "alice");
    let same = post(
        &hub,
        Some(&alice),
        "lobby",
        "me again",
        json!({"from": "alice"}),
    )
    .await;
    assert_eq!(same.status, 201, "{same:?}");
    post(
        &hub,
        Some(&alice),
        "lobby",
        "as bob",
        json!({"from": "bob"}),
    )
    .await
    .assert_error(400, "bad_from");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_guests_every_way_in_needs_a_login() {
    let hub = start(false, "");
    get(&hub, None, "/api/me")
        .await
        .assert_error(401, "login_required");
    get(&hub, None, "/api/rooms")
        .await
        .assert_error(401, "login_required");
    get(&hub, None, "/api/rooms/lobby/messages")
        .await
        .assert_error(401, "login_required");
    post(&hub, None, "lobby", "hi", json!({"from": "x"}))
        .await
        .assert_error(401, "login_required");
    assert_refused(sse(&hub, None, "lobby").await, 401, "login_required");
    // The page, health and login itself stay open.
    assert_eq!(hub.http().get("/").await.status, 200);
    assert_eq!(hub.http().get("/healthz").await.status, 200);
    let alice = login_token(&hub, "alice").await;
    let me = get(&hub, Some(&alice), "/api/me").await.json();
    assert_eq!(
        (me["kind"].as_str(), me["guests"].as_bool()),
        (Some("user"), Some(false))
    );
    assert_eq!(
        post(&hub, Some(&alice), "lobby", "hi", json!({}))
            .await
            .status,
        201
    );
    assert!(listed(&hub, Some(&alice))
        .await
        .contains(&"secret".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_off_means_no_login_and_free_names() {
    let hub = Hub::start_default();
    let me = get(&hub, None, "/api/me").await.json();
    assert_eq!(
        me,
        json!({"kind": "anonymous", "name": null, "admin": false,
        "accounts": false, "guests": true})
    );
    login(&hub, "alice", PASSWORD)
        .await
        .assert_error(404, "accounts_off");
    get(&hub, None, "/api/admin/users")
        .await
        .assert_error(404, "accounts_off");
    let free = post(&hub, None, "lobby", "hi", json!({"from": "alice"})).await;
    assert_eq!(free.json()["from"], "alice");
    // A token proves nothing here, so presenting one is an error.
    get(&hub, Some("whatever"), "/api/rooms")
        .await
        .assert_error(401, "bad_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_manages_users_for_administrators_only() {
    let hub = start(true, "");
    let root = login_token(&hub, "root").await;
    let alice = login_token(&hub, "alice").await;
    // Only administrators.
    call(&hub, None, Method::GET, "/api/admin/users", None)
        .await
        .assert_error(401, "login_required");
    call(&hub, Some(&alice), Method::GET, "/api/admin/users", None)
        .await
        .assert_error(403, "not_allowed");
    call(&hub, Some("nope"), Method::GET, "/api/admin/users", None)
        .await
        .assert_error(401, "bad_token");

    let users = call(&hub, Some(&root), Method::GET, "/api/admin/users", None)
        .await
        .json();
    let names: Vec<&str> = users["users"]
        .as_array()
        .expect("a users array")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["alice", "bob", "root"]);

    // Add, log in, promote, change the password, revoke, delete.
    let new = json!({"name": "carol", "password": "carol's password"});
    let added = call(
        &hub,
        Some(&root),
        Method::POST,
        "/api/admin/users",
        Some(new.clone()),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    call(
        &hub,
        Some(&root),
        Method::POST,
        "/api/admin/users",
        Some(new),
    )
    .await
    .assert_error(409, "exists");
    call(
        &hub,
        Some(&root),
        Method::POST,
        "/api/admin/users",
        Some(json!({"name": "Bad Name", "password": "long enough"})),
    )
    .await
    .assert_error(400, "bad_user_name");
    call(
        &hub,
        Some(&root),
        Method::POST,
        "/api/admin/users",
        Some(json!({"name": "dan", "password": "short"})),
    )
    .await
    .assert_error(400, "bad_password");
    call(
        &hub,
        Some(&root),
        Method::POST,
        "/api/admin/users",
        Some(json!({"name": "dan"})),
    )
    .await
    .assert_error(400, "bad_json");
    let carol = token_from(login(&hub, "carol", "carol's password").await);
    call(&hub, Some(&carol), Method::GET, "/api/admin/users", None)
        .await
        .assert_error(403, "not_allowed");
    let role = call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/users/carol/role",
        Some(json!({"admin": true})),
    )
    .await;
    assert_eq!(role.status, 200, "{role:?}");
    // The role applies to the open session at once.
    let listed = call(&hub, Some(&carol), Method::GET, "/api/admin/users", None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let changed = call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/users/carol/password",
        Some(json!({"password": "a new password"})),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    get(&hub, Some(&carol), "/api/me")
        .await
        .assert_error(401, "bad_token");
    login(&hub, "carol", "carol's password")
        .await
        .assert_error(401, "bad_credentials");
    let carol = token_from(login(&hub, "carol", "a new password").await);
    let revoked = call(
        &hub,
        Some(&root),
        Method::DELETE,
        "/api/admin/users/carol/sessions",
        None,
    )
    .await;
    assert_eq!(revoked.json()["sessions_ended"], 1, "{revoked:?}");
    get(&hub, Some(&carol), "/api/me")
        .await
        .assert_error(401, "bad_token");
    let deleted = call(
        &hub,
        Some(&root),
        Method::DELETE,
        "/api/admin/users/carol",
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    call(
        &hub,
        Some(&root),
        Method::DELETE,
        "/api/admin/users/carol",
        None,
    )
    .await
    .assert_error(404, "no_such_user");
    login(&hub, "carol", "a new password")
        .await
        .assert_error(401, "bad_credentials");
    // The path names the user; the body may not.
    call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/users/bob/role",
        Some(json!({"admin": true, "name": "root"})),
    )
    .await
    .assert_error(400, "bad_json");
}

fn token_from(reply: Reply) -> String {
    assert_eq!(reply.status, 200, "login: {reply:?}");
    reply.json()["token"].as_str().expect("a token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_shows_and_sets_room_rules_live() {
    let hub = start(true, "");
    let root = login_token(&hub, "root").await;
    let bob = login_token(&hub, "bob").await;
    let alice = login_token(&hub, "alice").await;
    post(&hub, None, "lobby", "hi", json!({})).await;

    // Every room, private ones included, with its rules.
    let rooms = get(&hub, Some(&root), "/api/admin/rooms").await.json();
    let by_name = |v: &Value, name: &str| {
        v["rooms"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["room"] == json!(name)).cloned())
            .unwrap_or_else(|| panic!("{name} not in {v}"))
    };
    let secret = by_name(&rooms, "secret");
    assert_eq!(secret["rules"]["private"], true, "{secret}");
    assert_eq!(secret["rules"]["members"], json!(["alice"]));
    assert_eq!(
        (secret["source"].as_str(), secret["exists"].as_bool()),
        (Some("config"), Some(true))
    );
    let lobby = by_name(&rooms, "lobby");
    assert_eq!(
        (lobby["source"].as_str(), lobby["last_seq"].as_u64()),
        (Some("default"), Some(1))
    );
    get(&hub, Some(&bob), "/api/admin/rooms")
        .await
        .assert_error(403, "not_allowed");

    // Let bob in; it applies to the next request.
    let rules = json!({"private": true, "members": ["alice", "bob"]});
    let set = set_secret_rules(&hub, &root, rules).await;
    assert_eq!(set.json()["source"], "admin", "{set:?}");
    assert!(listed(&hub, Some(&bob))
        .await
        .contains(&"secret".to_string()));
    assert_eq!(
        get(&hub, Some(&bob), "/api/rooms/secret/messages")
            .await
            .status,
        200
    );
    let shown = get(&hub, Some(&root), "/api/admin/rooms/secret")
        .await
        .json();
    assert_eq!(shown["rules"]["members"], json!(["alice", "bob"]));

    // Read-only: a reader may read but not post.
    let readers = json!({"private": true, "members": ["alice"], "readers": ["bob"]});
    set_secret_rules(&hub, &root, readers).await;
    assert_eq!(
        get(&hub, Some(&bob), "/api/rooms/secret/messages")
            .await
            .status,
        200
    );
    post(&hub, Some(&bob), "secret", "may I?", json!({}))
        .await
        .assert_error(403, "not_allowed");
    assert_eq!(
        post(&hub, Some(&alice), "secret", "yes", json!({}))
            .await
            .status,
        201
    );

    // Rules for a room that does not exist yet are listed too.
    let future = json!({"private": true, "members": ["root"]});
    call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/rooms/later",
        Some(future),
    )
    .await;
    let rooms = get(&hub, Some(&root), "/api/admin/rooms").await.json();
    assert_eq!(by_name(&rooms, "later")["exists"], false);

    // Clearing brings the config file's rules back.
    let cleared = call(
        &hub,
        Some(&root),
        Method::DELETE,
        "/api/admin/rooms/secret",
        None,
    )
    .await;
    assert_eq!(cleared.json()["source"], "config", "{cleared:?}");
    get(&hub, Some(&bob), "/api/rooms/secret/messages")
        .await
        .assert_error(404, "no_such_room");

    // Bad input.
    call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/rooms/Bad!",
        Some(json!({})),
    )
    .await
    .assert_error(400, "bad_room");
    call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/rooms/x",
        Some(json!({"privat": true})),
    )
    .await
    .assert_error(400, "bad_json");
    call(
        &hub,
        Some(&root),
        Method::PUT,
        "/api/admin/rooms/x",
        Some(json!({"members": ["guest:x"]})),
    )
    .await
    .assert_error(400, "bad_user_name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_rules_set_with_the_cli_take_effect_live() {
    let hub = start(true, "");
    let bob = login_token(&hub, "bob").await;
    let alice = login_token(&hub, "alice").await;
    post(&hub, None, "lounge", "open to all", json!({})).await;
    assert!(listed(&hub, None).await.contains(&"lounge".to_string()));

    let (ok, out, err) = hub.cli(
        &["room", "set", "lounge", "--private", "--members", "bob"],
        "",
    );
    assert!(ok, "hubbub room set: {out}\n{err}");
    assert!(!listed(&hub, None).await.contains(&"lounge".to_string()));
    assert!(!listed(&hub, Some(&alice))
        .await
        .contains(&"lounge".to_string()));
    get(&hub, Some(&alice), "/api/rooms/lounge/messages")
        .await
        .assert_error(404, "no_such_room");
    assert_eq!(
        get(&hub, Some(&bob), "/api/rooms/lounge/messages")
            .await
            .status,
        200
    );

    let (ok, out, err) = hub.cli(&["room", "clear", "lounge"], "");
    assert!(ok, "hubbub room clear: {out}\n{err}");
    assert!(listed(&hub, None).await.contains(&"lounge".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_from_one_address_are_throttled() {
    let hub = start(true, "[limits]\nlogin_attempts = 3\n");
    for attempt in 1..=3 {
        let reply = login(&hub, "alice", "guessing").await;
        assert_eq!(reply.status, 401, "attempt {attempt} is checked: {reply:?}");
    }
    let throttled = login(&hub, "alice", "guessing").await;
    throttled.assert_error(429, "too_many_attempts");
    let wait: u64 = throttled
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(wait >= 1, "Retry-After: {wait}");
    // Even the right password waits: the throttle does not check.
    login(&hub, "alice", PASSWORD)
        .await
        .assert_error(429, "too_many_attempts");
    // After the wait, the right password gets in again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let mut reply = login(&hub, "alice", PASSWORD).await;
    for _ in 0..20 {
        if reply.status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        reply = login(&hub, "alice", PASSWORD).await;
    }
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_posts_are_limited_per_address_and_recover() {
    let hub = Hub::with_config("[limits]\nmessages_per_second = 2\nmessage_burst = 3\n");
    for i in 0..3 {
        let reply = post(&hub, None, "lobby", &format!("burst {i}"), json!({})).await;
        assert_eq!(reply.status, 201, "the burst is allowed: {reply:?}");
    }
    let mut refused = None;
    for i in 0..20 {
        let text = format!("over {i}");
        let reply = post(&hub, None, "lobby", &text, json!({})).await;
        if reply.status == 429 {
            refused = Some((text, reply));
            break;
        }
    }
    let (text, refused) = refused.expect("a post over the rate is refused");
    let v = refused.assert_error(429, "rate_limited");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("messages_per_second")),
        "{v}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    // A refused post is not stored; reading is not limited.
    let stored = hub.http().all_messages("lobby").await;
    assert!(
        stored.iter().all(|m| m["text"] != json!(text)),
        "{text} was stored"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = post(&hub, None, "lobby", "later", json!({})).await;
    assert_eq!(again.status, 201, "{again:?}");
}
