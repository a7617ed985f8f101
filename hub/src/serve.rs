//! Wiring: opens the store, starts the room service and the listeners,
//! and runs until SIGTERM or SIGINT, then stops in order.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hubbub_bridge::http::{self, AppState};
use hubbub_bridge::mqtt::{self, hooks::AllowAll};
use hubbub_core::metrics::Metrics;
use hubbub_core::store::{SledOptions, SledStore};
use hubbub_core::{retention, Rooms, RoomsOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::uplink;

/// How long stopping waits for connections to finish.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs the hub until a stop signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Watch for stop signals before anything listens, so that a stop sent
    // right after start-up is an orderly one too.
    let stop = StopSignals::watch()?;
    let store_dir = config.hub.data_dir.join("store");
    let options = SledOptions {
        cache_bytes: config.store.cache_mb.saturating_mul(1024 * 1024),
        ..SledOptions::default()
    };
    let store = SledStore::open(&store_dir, options)
        .with_context(|| format!("cannot open the history store in {}", store_dir.display()))?;
    let hub_id = config.hub_id();
    let rooms = Rooms::start(
        Arc::new(store),
        Arc::new(Metrics::new()),
        RoomsOptions {
            hub_id: hub_id.clone(),
            rooms: config.rooms.clone(),
            limits: config.limits.clone(),
            max_batch: config.store.max_batch,
            outbox: uplink::outbox_rule(&config),
        },
    )
    .context("cannot start the room service")?;
    let retention = retention::spawn(&rooms, &config.retention);

    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(hub = %hub_id, data = %config.hub.data_dir.display(), "hub started");
    tracing::info!(transport = %"http", addr = %addr, "listening");

    let shutdown = CancellationToken::new();
    let uplink = uplink::start(&config, &hub_id, &rooms, &shutdown)?;
    let tasks = TaskTracker::new();
    let broker = if config.mqtt.enabled {
        let broker = mqtt::start(
            config.mqtt.clone(),
            Arc::new(AllowAll),
            rooms.clone(),
            &tasks,
        );
        let listener = TcpListener::bind(config.mqtt.listen)
            .await
            .with_context(|| format!("cannot listen on {} (mqtt.listen)", config.mqtt.listen))?;
        tracing::info!(transport = %"mqtt", addr = %listener.local_addr()?, "listening");
        tasks.spawn(mqtt::serve_tcp(listener, broker.clone(), tasks.clone()));
        Some(broker)
    } else {
        None
    };
    let state = AppState {
        rooms: rooms.clone(),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
        mqtt: broker.clone().filter(|_| config.mqtt.websocket),
        uplink: uplink.status(),
    };
    let mut server = tokio::spawn(http::serve(listener, state));

    tokio::select! {
        signal = stop.next() => {
            tracing::info!(signal = signal?, "stopping");
        }
        ended = &mut server => {
            ended.context("the HTTP listener panicked")?.context("the HTTP listener failed")?;
        }
    }
    // Stop accepting, tell every client why, store what is queued, wait
    // (bounded) for connections to finish.
    shutdown.cancel();
    if let Some(broker) = &broker {
        broker.shutdown();
    }
    rooms.shutdown().await;
    uplink.stop().await;
    tasks.close();
    if tokio::time::timeout(STOP_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some WebSocket sessions did not finish in time");
    }
    if tokio::time::timeout(STOP_GRACE, server).await.is_err() {
        tracing::warn!("some HTTP connections did not finish in time");
    }
    retention.abort();
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and SIGINT, watched from start-up on.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn watch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    /// Waits for either and names it.
    async fn next(mut self) -> anyhow::Result<&'static str> {
        Ok(tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        })
    }
}
