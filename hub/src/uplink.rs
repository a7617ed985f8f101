//! Starting and stopping the Redis uplink when `[uplink]` is set; without
//! it the hub needs no Redis at all.

use anyhow::Context;
use hubbub_bridge::uplink::{Uplink, UplinkConfig, UplinkStatus};
use hubbub_core::uplink::OutboxRule;
use hubbub_core::Rooms;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Which messages the group commit puts in the outbox (none without an
/// uplink).
pub fn outbox_rule(config: &Config) -> Option<OutboxRule> {
    config.uplink.as_ref().map(UplinkConfig::outbox_rule)
}

/// The uplink, if configured.
pub struct Linked(Option<Uplink>);

/// Starts the uplink if `[uplink]` is set. It stops when `shutdown` is
/// cancelled; [`Linked::stop`] waits for that.
pub fn start(
    config: &Config,
    hub_id: &str,
    rooms: &Rooms,
    shutdown: &CancellationToken,
) -> anyhow::Result<Linked> {
    let Some(uplink) = &config.uplink else {
        return Ok(Linked(None));
    };
    let running = Uplink::start(uplink, hub_id.to_string(), rooms, shutdown.child_token())
        .context("cannot start the uplink (uplink.redis_url)")?;
    Ok(Linked(Some(running)))
}

impl Linked {
    /// Its status for `GET /api/uplink` (off if not configured).
    pub fn status(&self) -> UplinkStatus {
        self.0.as_ref().map(Uplink::status).unwrap_or_default()
    }

    /// Waits (bounded) for it to stop.
    pub async fn stop(self) {
        if let Some(uplink) = self.0 {
            uplink.stop().await;
        }
    }
}
