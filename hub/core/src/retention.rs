//! Background retention: drops history past the configured count and age.

use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use crate::config::RetentionConfig;
use crate::rooms::Rooms;

/// Runs retention every `interval_secs` until the task is aborted.
pub fn spawn(rooms: &Rooms, config: &RetentionConfig) -> JoinHandle<()> {
    let store = rooms.store().clone();
    let policy = config.policy();
    let interval = Duration::from_secs(config.interval_secs.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let store = store.clone();
            let outcome =
                tokio::task::spawn_blocking(move || store.apply_retention(&policy, Utc::now()))
                    .await;
            match outcome {
                Ok(Ok(0)) => {}
                Ok(Ok(dropped)) => tracing::info!(dropped, "retention dropped old history"),
                Ok(Err(e)) => tracing::warn!(error = %e, "retention failed; will retry"),
                Err(e) => tracing::error!(error = %e, "retention task panicked"),
            }
        }
    })
}
