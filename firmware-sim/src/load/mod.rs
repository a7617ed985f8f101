//! `firmware-sim load`: many clients post into rooms and every delivery is
//! checked for loss, duplication and order, with latency and hub cost.
//!
//! The run has two phases. First every client connects and joins its room
//! (WebSocket: `hello` and `join`; MQTT: CONNECT and SUBSCRIBE), so that all
//! are members before anyone posts (a message posted before a join would
//! not be owed to the joiner). Then all clients post and receive at once
//! until each is done or the timeout expires.

pub mod client;
pub mod own_posts;
pub mod payload;
pub mod plan;
pub mod report;

use std::sync::Arc;

use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::cli::LoadArgs;
use crate::procfs;
use crate::transport::Connection;
use client::{ClientOutcome, Shared};
use plan::Plan;
use report::LoadReport;

/// Runs the load described by `args` and returns its report.
pub async fn run(args: &LoadArgs) -> Result<LoadReport> {
    procfs::raise_open_file_limit();
    let plan = Arc::new(Plan::from_args(args)?);
    let endpoints = args.endpoints()?;
    let flap = args.flap();

    // Phase 1: everyone connects and joins.
    let conns: Vec<(usize, Connection, Option<u64>)> = futures_util::stream::iter(0..plan.clients)
        .map(|i| {
            let plan = Arc::clone(&plan);
            let endpoints = &endpoints;
            async move {
                let room = plan.room_name(plan.room_of(i));
                let flap = flap.filter(|_| i == 0);
                let mut conn = Connection::open(plan.wire_of(i), endpoints, &plan.name(i), flap)
                    .await
                    .with_context(|| format!("client {i}"))?;
                let joined = conn
                    .join(&room)
                    .await
                    .with_context(|| format!("client {i} joining {room}"))?;
                Ok::<_, anyhow::Error>((i, conn, joined.last_seq))
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .try_collect()
        .await?;

    // Phase 2: post and receive.
    let before = args.hub.hub_pid.map(procfs::sample).transpose()?;
    let shared = Arc::new(Shared::new(plan.rooms));
    let start = Instant::now();
    let deadline = start + args.timeout();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|(i, conn, last_seq)| {
            tokio::spawn(client::drive(
                Arc::clone(&plan),
                Arc::clone(&shared),
                i,
                last_seq,
                conn,
                deadline,
            ))
        })
        .collect();
    let mut outcomes: Vec<ClientOutcome> = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.context("a client task failed")?);
    }
    let end = outcomes
        .iter()
        .map(|o| o.finished.unwrap_or_else(Instant::now))
        .max()
        .unwrap_or(start);
    let hub = match (args.hub.hub_pid, before) {
        (Some(pid), Some(before)) => Some(procfs::usage(before, procfs::sample(pid)?)),
        _ => None,
    };
    Ok(LoadReport::build(
        &plan,
        args,
        &outcomes,
        (end - start).as_secs_f64(),
        hub,
    ))
}
