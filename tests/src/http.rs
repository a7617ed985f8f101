//! HTTP helpers over reqwest for the REST API.

use std::time::Duration;

use serde_json::{json, Value};

use crate::util::seq_of;

/// An HTTP client bound to one hub run's base URL.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
}

/// A complete HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as (lossy) UTF-8.
    pub body: String,
    /// Every header, names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The first header named `name` (lowercase), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }

    /// Asserts the status and the error shape `{"error":{"code","message"}}` with this code.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        let v = self.assert_error_status(status);
        assert_eq!(
            v["error"]["code"],
            json!(code),
            "expected error code {code}: {v}"
        );
        v
    }

    /// Asserts the status and the error shape, whatever the code.
    pub fn assert_error_status(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "expected HTTP {status}, got {self:?}");
        let v = self.json();
        assert!(
            v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()),
            "an error body is {{\"error\":{{\"code\",\"message\"}}}}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.trim().is_empty()),
            "an error body is {{\"error\":{{\"code\",\"message\"}}}}: {v}"
        );
        v
    }
}

impl Http {
    /// A client for `http://127.0.0.1:PORT` (no proxies, 30 s per request).
    pub fn new(base: &str) -> Http {
        Self::build(base, Self::builder())
    }

    /// A client for `https://127.0.0.1:PORT` that trusts the certificates
    /// in `cert_pem` (PEM) and no others; otherwise as [`Http::new`].
    pub fn with_root_cert(base: &str, cert_pem: &str) -> Http {
        let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes())
            .unwrap_or_else(|e| panic!("not a PEM certificate: {e}"));
        Self::build(base, Self::builder().add_root_certificate(cert))
    }

    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
    }

    fn build(base: &str, builder: reqwest::ClientBuilder) -> Http {
        Http {
            client: builder.build().expect("reqwest client"),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; `Err` if the connection fails.
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = resp.bytes().await?;
        Ok(Reply {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            headers,
        })
    }

    /// Sends a request; panics if the connection fails.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let what = format!("{method} {path}");
        self.try_send(method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, &[], None).await
    }

    /// `GET path` with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::GET, path, headers, None).await
    }

    /// `POST path` with a body and headers.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.send(reqwest::Method::POST, path, headers, Some(body))
            .await
    }

    /// `POST /api/rooms/{room}/messages` with a JSON body; `Err` if the connection fails.
    pub async fn try_post_json(&self, room: &str, body: &Value) -> Result<Reply, reqwest::Error> {
        self.try_send(
            reqwest::Method::POST,
            &format!("/api/rooms/{room}/messages"),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// `POST /api/rooms/{room}/messages` with a JSON body.
    pub async fn post_json(&self, room: &str, body: &Value) -> Reply {
        self.try_post_json(room, body)
            .await
            .unwrap_or_else(|e| panic!("POST to room {room} failed: {e}"))
    }

    /// Posts `{"text":…}` and returns the stored message, asserting `201`.
    pub async fn post_text(&self, room: &str, text: &str) -> Value {
        let reply = self.post_json(room, &json!({ "text": text })).await;
        assert_eq!(reply.status, 201, "POST answers 201: {reply:?}");
        reply.json()
    }

    /// `GET /api/rooms/{room}/messages?{query}`.
    pub async fn messages(&self, room: &str, query: &str) -> Reply {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        self.get(&format!("/api/rooms/{room}/messages{q}")).await
    }

    /// The messages of one `GET …/messages?{query}`, asserting `200`.
    pub async fn message_list(&self, room: &str, query: &str) -> Vec<Value> {
        let reply = self.messages(room, query).await;
        assert_eq!(reply.status, 200, "GET messages: {reply:?}");
        let v = reply.json();
        v["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("no messages array: {v}"))
            .clone()
    }

    /// A room's whole retained history, paged with `after`, in seq order.
    pub async fn all_messages(&self, room: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map_or(0, seq_of);
            let page = self
                .message_list(room, &format!("after={after}&limit=500"))
                .await;
            let n = page.len();
            all.extend(page);
            if n < 500 {
                return all;
            }
        }
    }

    /// `GET /api/rooms` as JSON, asserting `200`.
    pub async fn rooms(&self) -> Value {
        let reply = self.get("/api/rooms").await;
        assert_eq!(reply.status, 200, "GET /api/rooms: {reply:?}");
        reply.json()
    }

    /// One room's entry in `GET /api/rooms`, if listed.
    pub async fn room(&self, name: &str) -> Option<Value> {
        self.rooms().await["rooms"]
            .as_array()
            .and_then(|rooms| rooms.iter().find(|r| r["name"] == json!(name)).cloned())
    }

    /// `GET /metrics` text, asserting `200`.
    pub async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "GET /metrics: {reply:?}");
        reply.body
    }
}
