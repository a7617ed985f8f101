//! `firmware-sim idle`: hold many idle connections (WebSocket or MQTT) and
//! report how much resident memory the hub (or broker) spends on each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use serde::Serialize;

use crate::cli::IdleArgs;
use crate::procfs;
use crate::transport::{Connection, HubEvent, TransportKind, Wire};

/// The JSON line `firmware-sim idle` prints.
#[derive(Debug, Serialize)]
pub struct IdleReport {
    /// How the connections talk to the hub.
    pub transport: TransportKind,
    /// Connections asked for.
    pub connections: u32,
    /// Connections that were opened and joined.
    pub opened: u64,
    /// Connections that could not be opened or joined.
    pub failed: u64,
    /// Connections the hub closed while they were held.
    pub dropped: u64,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Seconds spent opening them.
    pub connect_s: f64,
    /// Seconds they were held before measuring.
    pub hold_s: u64,
    /// Hub resident memory before, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_rss_before_kb: Option<u64>,
    /// Hub resident memory with the connections open, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_rss_after_kb: Option<u64>,
    /// Hub peak resident memory since it started, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_rss_peak_kb: Option<u64>,
    /// (after − before) / opened, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_connection_bytes: Option<i64>,
    /// Whether every connection was opened and stayed open.
    pub ok: bool,
}

/// Opens the connections, holds them, measures, closes them.
pub async fn run(args: &IdleArgs) -> Result<IdleReport> {
    procfs::raise_open_file_limit();
    let endpoints = args.hub.endpoints(args.transport, &args.mqtt)?;
    let before = args.hub.hub_pid.map(procfs::sample).transpose()?;
    let started = Instant::now();
    let tag = std::process::id();
    let results: Vec<Result<Connection>> = futures_util::stream::iter(0..args.connections)
        .map(|i| {
            let endpoints = &endpoints;
            async move {
                let room = format!("{}-{}", args.room_prefix, i % args.rooms);
                let position = (i / args.rooms) as usize;
                let wire = args.transport.wire_for(position);
                let name = match wire {
                    Wire::Ws => format!("idle-{i}"),
                    Wire::Mqtt => format!("idle-{tag}-{i}"),
                };
                let mut conn = Connection::open(wire, endpoints, &name, None).await?;
                conn.join(&room).await?;
                Ok(conn)
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .collect()
        .await;
    let connect_s = started.elapsed().as_secs_f64();

    let dropped = Arc::new(AtomicU64::new(0));
    let mut posters = Vec::new();
    let mut drains = Vec::new();
    let mut failed = 0u64;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(conn) => {
                let (poster, mut events) = conn.split();
                posters.push(poster);
                let dropped = Arc::clone(&dropped);
                // Keep reading so presence events never pile up and pings are answered.
                drains.push(tokio::spawn(async move {
                    loop {
                        match events.next().await {
                            None | Some(Err(_)) | Some(Ok(HubEvent::Closed { .. })) => {
                                dropped.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                }));
            }
            Err(e) => {
                failed += 1;
                if first_error.is_none() {
                    first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let after = args.hub.hub_pid.map(procfs::sample).transpose()?;
    let dropped_n = dropped.load(Ordering::Relaxed);

    futures_util::future::join_all(posters.iter_mut().map(|p| p.close())).await;
    for d in drains {
        d.abort();
    }

    let opened = (args.connections as u64).saturating_sub(failed);
    Ok(IdleReport {
        transport: args.transport,
        connections: args.connections,
        opened,
        failed,
        dropped: dropped_n,
        first_error,
        connect_s: (connect_s * 1000.0).round() / 1000.0,
        hold_s: args.hold_secs,
        hub_rss_before_kb: before.map(|s| s.rss_kb),
        hub_rss_after_kb: after.map(|s| s.rss_kb),
        hub_rss_peak_kb: after.map(|s| s.hwm_kb),
        rss_per_connection_bytes: match (before, after) {
            (Some(b), Some(a)) if opened > 0 => {
                Some((a.rss_kb as i64 - b.rss_kb as i64) * 1024 / opened as i64)
            }
            _ => None,
        },
        ok: failed == 0 && dropped_n == 0,
    })
}
