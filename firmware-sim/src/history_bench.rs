//! `firmware-sim history-bench`: latency of "latest N messages" queries
//! over HTTP (`GET /api/rooms/ROOM/messages?limit=N`), one at a time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::HistoryBenchArgs;
use crate::stats::latency::{Histogram, LatencySummary};

/// The JSON line `firmware-sim history-bench` prints.
#[derive(Debug, Serialize)]
pub struct HistoryReport {
    /// The room queried.
    pub room: String,
    /// Timed queries.
    pub queries: u32,
    /// The `limit` asked for.
    pub limit: u32,
    /// Replies with fewer messages than `limit`.
    pub short_replies: u32,
    /// The highest seq seen in a reply (the room's size, roughly).
    pub newest_seq: u64,
    /// Request latency, including reading the whole body.
    pub latency_ms: LatencySummary,
    /// Queries per second, one at a time.
    pub qps: f64,
}

#[derive(Deserialize)]
struct Page {
    messages: Vec<PageMessage>,
}

#[derive(Deserialize)]
struct PageMessage {
    seq: u64,
}

/// Runs the queries and returns the report.
pub async fn run(args: &HistoryBenchArgs) -> Result<HistoryReport> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let url = format!(
        "http://{}/api/rooms/{}/messages?limit={}",
        args.hub, args.room, args.limit
    );
    let mut hist = Histogram::new();
    let mut short_replies = 0;
    let mut newest_seq = 0;
    let mut timed_total = Duration::ZERO;
    for i in 0..args.warmup + args.queries {
        let t0 = Instant::now();
        let resp = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("reading {url}"))?;
        let took = t0.elapsed();
        if !status.is_success() {
            bail!(
                "GET {url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let page: Page = serde_json::from_slice(&body)
            .with_context(|| format!("GET {url}: reply is not a page of messages"))?;
        if i < args.warmup {
            continue;
        }
        hist.record(took);
        timed_total += took;
        if page.messages.len() < args.limit as usize {
            short_replies += 1;
        }
        newest_seq = newest_seq.max(page.messages.iter().map(|m| m.seq).max().unwrap_or(0));
    }
    Ok(HistoryReport {
        room: args.room.clone(),
        queries: args.queries,
        limit: args.limit,
        short_replies,
        newest_seq,
        latency_ms: hist.summary(),
        qps: if timed_total.is_zero() {
            0.0
        } else {
            (f64::from(args.queries) / timed_total.as_secs_f64()).round()
        },
    })
}
