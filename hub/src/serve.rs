//! Wiring: opens the store, starts the room service and the listeners,
//! and runs until SIGTERM or SIGINT, then stops in order.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hubbub_bridge::http::{self, AppState};
use hubbub_bridge::mqtt;
use hubbub_core::auth::Auth;
use hubbub_core::limits::ConnectionLimiter;
use hubbub_core::metrics::Metrics;
use hubbub_core::store::SledStore;
use hubbub_core::{retention, Rooms, RoomsOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::open_accounts;
use crate::config::Config;
use crate::control;
use crate::uplink;

/// How long stopping waits for connections to finish.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs the hub until a stop signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Watch for stop signals before anything listens, so that a stop sent
    // right after start-up is an orderly one too.
    let stop = StopSignals::watch()?;
    // Certificates first: a mistake there is found before anything starts.
    let http_tls = (config.http.tls.as_ref())
        .map(|tls| tls.acceptor("http.tls", http::ALPN))
        .transpose()?;
    let mqtt_tls = (config.mqtt.tls.as_ref().filter(|_| config.mqtt.enabled))
        .map(|tls| tls.acceptor("mqtt.tls", &[]))
        .transpose()?;
    let store_dir = config.hub.data_dir.join("store");
    let options = config.store.sled_options();
    let store =
        Arc::new(SledStore::open(&store_dir, options).with_context(|| {
            format!("cannot open the history store in {}", store_dir.display())
        })?);
    let stack = open_accounts(&config, store.clone())?;
    let auth = Arc::new(Auth::new(
        config.auth.accounts.then(|| stack.accounts.clone()),
        config.auth.anonymous_allowed(),
    ));
    let limiter = Arc::new(ConnectionLimiter::new(
        config.limits.max_connections,
        config.limits.max_connections_per_address,
    ));
    let hub_id = config.hub_id();
    let rooms = Rooms::start(
        store,
        Arc::new(Metrics::new()),
        RoomsOptions {
            hub_id: hub_id.clone(),
            rooms: config.rooms.clone(),
            limits: config.limits.clone(),
            max_batch: config.store.max_batch,
            outbox: uplink::outbox_rule(&config),
            access: stack.access.clone(),
        },
    )
    .context("cannot start the room service")?;
    let retention = retention::spawn(&rooms, &config.retention);

    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let addr = listener.local_addr()?;
    // The control socket is up before the hub says it listens: whoever
    // waits for that line may run `hubbub user ...` at once.
    let shutdown = CancellationToken::new();
    control::serve(&config.hub.data_dir, stack.admin.clone(), shutdown.clone())?;
    tracing::info!(hub = %hub_id, data = %config.hub.data_dir.display(), "hub started");
    let tls = http_tls.is_some();
    tracing::info!(transport = %"http", addr = %addr, tls, "listening");

    let uplink = uplink::start(&config, &hub_id, &rooms, &shutdown)?;
    let tasks = TaskTracker::new();
    let broker = if config.mqtt.enabled {
        let broker = mqtt::start(
            config.mqtt.clone(),
            auth.clone(),
            limiter.clone(),
            rooms.clone(),
            &tasks,
        )?;
        let listener = TcpListener::bind(config.mqtt.listen)
            .await
            .with_context(|| format!("cannot listen on {} (mqtt.listen)", config.mqtt.listen))?;
        let (addr, tls) = (listener.local_addr()?, mqtt_tls.is_some());
        tracing::info!(transport = %"mqtt", addr = %addr, tls, "listening");
        let serve = mqtt::serve_tcp(listener, mqtt_tls, broker.clone(), tasks.clone());
        tasks.spawn(serve);
        Some(broker)
    } else {
        None
    };
    // A user whose logins end (revoked, new password, deleted) loses its
    // live connections too, on every transport.
    let (revoked_rooms, revoked_broker) = (rooms.clone(), broker.as_ref().map(Arc::downgrade));
    stack.accounts.watch_revocations(Box::new(move |user| {
        revoked_rooms.end_sessions_of(user);
        if let Some(broker) = revoked_broker.as_ref().and_then(std::sync::Weak::upgrade) {
            broker.end_sessions_of(user);
        }
    }));
    let state = AppState {
        rooms: rooms.clone(),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
        mqtt: broker.clone().filter(|_| config.mqtt.websocket),
        uplink: uplink.status(),
        auth: auth.clone(),
        admin: stack.admin.clone(),
        limiter: limiter.clone(),
        post_rates: Arc::new(http::AddressRates::new(&config.limits)),
        https: http_tls.is_some(),
    };
    let mut server = tokio::spawn(http::serve(listener, http_tls, state));

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
