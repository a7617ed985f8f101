//! Helpers shared by the `access_*` tests: a hub with accounts, a private
//! room `secret` for alice, three users (alice, bob, and root, an
//! administrator), logging in, and clients that present a token.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use hubbub_tests::{Hub, Reply, SseClient, WsClient};
use serde_json::{json, Value};

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// The config of an access test hub: accounts on, guests as `anonymous`
/// says, the private room `secret` with alice as its only member, and
/// `extra` (more TOML) at the end.
pub fn config(anonymous: bool, extra: &str) -> String {
    format!(
        "[auth]\naccounts = true\nanonymous = {anonymous}\n\n\
         [rooms.declare.secret]\nprivate = true\nmembers = [\"alice\"]\n\n{extra}"
    )
}

/// Starts a hub with [`config`] and adds alice, bob and root (admin).
pub fn start(anonymous: bool, extra: &str) -> Hub {
    let hub = Hub::with_config(&config(anonymous, extra));
    hub.add_user("alice", PASSWORD, false);
    hub.add_user("bob", PASSWORD, false);
    hub.add_user("root", PASSWORD, true);
    hub
}

/// `POST /api/login` with a name and password.
pub async fn login(hub: &Hub, name: &str, password: &str) -> Reply {
    let body = json!({ "name": name, "password": password });
    hub.http()
        .post(
            "/api/login",
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
}

/// Logs `name` in with [`PASSWORD`] and returns its session token.
pub async fn login_token(hub: &Hub, name: &str) -> String {
    let reply = login(hub, name, PASSWORD).await;
    assert_eq!(reply.status, 200, "login as {name}: {reply:?}");
    reply.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {reply:?}"))
        .to_string()
}

/// The `Authorization` header value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A request as `token` (or as nobody): `method path` with an optional
/// JSON body.
pub async fn call(
    hub: &Hub,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let auth = token.map(bearer);
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    let body = body.map(|b| b.to_string().into_bytes());
    hub.http().send(method, path, &headers, body).await
}

/// `GET path` as `token` (or as nobody).
pub async fn get(hub: &Hub, token: Option<&str>, path: &str) -> Reply {
    call(hub, token, reqwest::Method::GET, path, None).await
}

/// Posts `text` to `room` as `token` (or as nobody), with extra JSON fields.
pub async fn post(hub: &Hub, token: Option<&str>, room: &str, text: &str, extra: Value) -> Reply {
    let mut body = json!({ "text": text });
    if let Value::Object(fields) = extra {
        for (k, v) in fields {
            body[k] = v;
        }
    }
    let path = format!("/api/rooms/{room}/messages");
    call(hub, token, reqwest::Method::POST, &path, Some(body)).await
}

/// The names of the rooms `GET /api/rooms` lists to `token` (or to nobody).
pub async fn listed(hub: &Hub, token: Option<&str>) -> Vec<String> {
    let reply = get(hub, token, "/api/rooms").await;
    assert_eq!(reply.status, 200, "GET /api/rooms: {reply:?}");
    reply.json()["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms array: {reply:?}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A WebSocket chat connection as `token` (`Authorization: Bearer`).
pub async fn ws_as_user(hub: &Hub, token: &str) -> WsClient {
    let auth = bearer(token);
    WsClient::try_connect_with_headers(&hub.ws_url(), &[("authorization", &auth)])
        .await
        .unwrap_or_else(|(status, body)| panic!("WebSocket upgrade refused: {status} {body}"))
}

/// The HTTP refusal of a WebSocket upgrade with these headers; panics if
/// the upgrade succeeds.
pub async fn ws_refused(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    match WsClient::try_connect_with_headers(url, headers).await {
        Ok(_) => panic!("the WebSocket upgrade to {url} with {headers:?} was accepted"),
        Err((status, body)) => {
            let body = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("refusal body is not JSON ({e}): {body:?}"));
            (status, body)
        }
    }
}

/// An SSE stream of `room` as `token` (or as nobody); `Err((status, body))`
/// if refused.
pub async fn sse(hub: &Hub, token: Option<&str>, room: &str) -> Result<SseClient, (u16, String)> {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    SseClient::try_connect(&hub.http_base(), room, "since=0", &headers).await
}

/// Asserts an SSE refusal's status and error code.
pub fn assert_refused(refusal: Result<SseClient, (u16, String)>, status: u16, code: &str) {
    match refusal {
        Ok(_) => panic!("the SSE stream was opened; expected {status} {code}"),
        Err((got, body)) => {
            assert_eq!(got, status, "SSE refusal status: {body}");
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(v["error"]["code"], json!(code), "{v}");
        }
    }
}

/// `PUT /api/admin/rooms/secret` with `rules` as `token` (an admin's);
/// asserts it was taken and returns the answer.
pub async fn set_secret_rules(hub: &Hub, token: &str, rules: Value) -> Reply {
    let set = call(
        hub,
        Some(token),
        reqwest::Method::PUT,
        "/api/admin/rooms/secret",
        Some(rules),
    )
    .await;
    assert_eq!(set.status, 200, "{set:?}");
    set
}
