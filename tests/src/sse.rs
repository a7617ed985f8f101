//! A raw Server-Sent Events reader over a streaming reqwest response.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::RECV_TIMEOUT;

/// One SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (default `message`).
    pub event: String,
    /// `id:`, if sent.
    pub id: Option<String>,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

impl SseEvent {
    /// The data as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {self:?}"))
    }

    /// The `id:` as a number; panics if missing.
    pub fn id_u64(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("SSE event without a numeric id: {self:?}"))
    }
}

/// An open SSE stream of one room.
pub struct SseClient {
    resp: reqwest::Response,
    buf: Vec<u8>,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    ended: bool,
}

impl SseClient {
    /// Opens `GET {base}/api/rooms/{room}/events?{query}` (with `Last-Event-ID` if given), asserting `200 text/event-stream`.
    pub async fn connect(
        base: &str,
        room: &str,
        last_event_id: Option<u64>,
        query: &str,
    ) -> SseClient {
        let mut headers = Vec::new();
        let id = last_event_id.map(|id| id.to_string());
        if let Some(id) = &id {
            headers.push(("last-event-id", id.as_str()));
        }
        match Self::try_connect(base, room, query, &headers).await {
            Ok(client) => client,
            Err((status, body)) => panic!("SSE answered {status}: {body}"),
        }
    }

    /// Opens `GET {base}/api/rooms/{room}/events?{query}` with extra headers;
    /// `Err((status, body))` unless the hub answers 200 (then asserts
    /// `text/event-stream`).
    pub async fn try_connect(
        base: &str,
        room: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseClient, (u16, String)> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client");
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let mut req = client
            .get(format!("{base}/api/rooms/{room}/events{q}"))
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = tokio::time::timeout(RECV_TIMEOUT, req.send())
            .await
            .expect("SSE request timed out")
            .expect("SSE request failed");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            return Err((status, body));
        }
        assert!(
            ct.starts_with("text/event-stream"),
            "SSE content type is {ct:?}"
        );
        Ok(SseClient {
            resp,
            buf: Vec::new(),
            event: None,
            id: None,
            data: None,
            ended: false,
        })
    }

    /// Parses one complete line from the buffer; returns an event when a blank line ends one.
    fn take_event(&mut self) -> Option<SseEvent> {
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&raw[..nl]);
            let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
            if line.is_empty() {
                if self.data.is_some() || self.event.is_some() {
                    return Some(SseEvent {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        id: self.id.take(),
                        data: self.data.take().unwrap_or_default(),
                    });
                }
                self.id = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match field.as_str() {
                "event" => self.event = Some(value),
                "id" => self.id = Some(value),
                "data" => {
                    let data = self.data.get_or_insert_with(String::new);
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(&value);
                }
                _ => {}
            }
        }
        None
    }

    /// The next event, or `None` if none completes within `timeout` or the stream ended.
    pub async fn try_next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.take_event() {
                return Some(ev);
            }
            if self.ended {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event; panics on timeout or end of stream.
    pub async fn next_event(&mut self) -> SseEvent {
        match self.try_next(RECV_TIMEOUT).await {
            Some(ev) => ev,
            None if self.ended => panic!("the SSE stream ended while an event was expected"),
            None => panic!("no SSE event within {RECV_TIMEOUT:?}"),
        }
    }

    /// The next `n` events of type `message`, failing on any other event type.
    pub async fn messages(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let ev = self.next_event().await;
            assert_eq!(ev.event, "message", "unexpected SSE event: {ev:?}");
            out.push(ev);
        }
        out
    }

    /// Whether the server has ended the stream.
    pub fn ended(&self) -> bool {
        self.ended
    }
}
