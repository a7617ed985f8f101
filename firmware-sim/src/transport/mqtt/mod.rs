//! The MQTT client of the load tools: rumqttc, MQTT 3.1.1, over TCP.
//!
//! A client subscribes to its room's topic and publishes its posts there
//! (see [`wire`] for topics and payloads). At QoS 1 a PUBACK is the post's
//! ack (in room mode the hub sends it only once the post is durable); at
//! QoS 0 there is none.

pub mod driver;
pub mod outbox;
pub mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::{mpsc, watch};

use super::{HubEvent, Joined};
use driver::{DriverConfig, DriverEvent, Flap, Shared};
use wire::TopicMode;

/// How long connecting and subscribing may each take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Events buffered between the driver task and the load client.
const EVENT_QUEUE: usize = 4096;
/// Requests buffered between the load client and rumqttc.
const REQUEST_QUEUE: usize = 256;
/// Unacknowledged QoS 1 publishes rumqttc keeps in flight: the hub's
/// default `mqtt.receive_maximum` (3.1.1 cannot announce it).
const MAX_INFLIGHT: u16 = 64;
/// Largest packet either way.
const MAX_PACKET: usize = 1 << 20;

/// Where and how the MQTT clients connect.
#[derive(Debug, Clone)]
pub struct MqttTarget {
    /// The broker's MQTT address, `HOST:PORT`.
    pub addr: String,
    /// QoS of publishes and subscriptions.
    pub qos: QoS,
    /// Which topics.
    pub mode: TopicMode,
    /// Keep the session (and QoS 1 messages) across a connection loss.
    pub persistent: bool,
    /// Keep-alive, seconds.
    pub keep_alive_secs: u64,
}

/// A connected MQTT client, before it is split.
pub struct MqttConnection {
    client: AsyncClient,
    events: mpsc::Receiver<DriverEvent>,
    early: VecDeque<HubEvent>,
    shared: Arc<Shared>,
    gone: watch::Receiver<bool>,
    target: MqttTarget,
}

impl MqttConnection {
    /// Connects as `client_id` and waits for the CONNACK; `flap` makes the
    /// connection drop once mid-run.
    pub async fn open(target: &MqttTarget, client_id: &str, flap: Option<Flap>) -> Result<Self> {
        let (host, port) = split_addr(&target.addr)?;
        if client_id.is_empty() {
            bail!("an MQTT client id must not be empty");
        }
        let mut options = MqttOptions::new(client_id, host, port);
        options
            .set_keep_alive(Duration::from_secs(target.keep_alive_secs.max(1)))
            .set_clean_session(!target.persistent)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_inflight(MAX_INFLIGHT);
        let (client, el) = AsyncClient::new(options, REQUEST_QUEUE);
        let (tx, mut events) = mpsc::channel(EVENT_QUEUE);
        let (gone_tx, gone) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let config = DriverConfig {
            mode: target.mode,
            flap,
        };
        tokio::spawn(driver::run(el, tx, Arc::clone(&shared), config, gone_tx));
        let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, events.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "no CONNACK from {} within {HANDSHAKE_TIMEOUT:?}",
                    target.addr
                )
            })?;
        match first {
            Some(DriverEvent::Connected) => {}
            Some(DriverEvent::Failed(e)) => {
                bail!("connecting to {} as {client_id}: {e}", target.addr)
            }
            other => bail!("connecting to {}: unexpected {other:?}", target.addr),
        }
        Ok(Self {
            client,
            events,
            early: VecDeque::new(),
            shared,
            gone,
            target: target.clone(),
        })
    }

    /// Subscribes to `room`'s topic and waits for the SUBACK.
    pub async fn join(&mut self, room: &str) -> Result<Joined> {
        let filter = self.target.mode.topic(room);
        self.shared
            .filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((filter.clone(), self.target.qos));
        self.client
            .subscribe(filter.as_str(), self.target.qos)
            .await
            .context("the MQTT client stopped")?;
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some(DriverEvent::Subscribed(Ok(()))) => return Ok(()),
                    Some(DriverEvent::Subscribed(Err(e))) => bail!("subscribing to {filter}: {e}"),
                    Some(DriverEvent::Failed(e)) => bail!("subscribing to {filter}: {e}"),
                    Some(DriverEvent::Hub(ev)) => self.early.push_back(ev),
                    Some(DriverEvent::Connected) => {}
                    None => bail!("the connection ended before the SUBACK for {filter}"),
                }
            }
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, wait)
            .await
            .map_err(|_| anyhow!("no SUBACK for {filter} within {HANDSHAKE_TIMEOUT:?}"))??;
        // MQTT does not say where the room stands; the first delivery tells.
        Ok(Joined { last_seq: None })
    }

    /// Splits into the sending and the receiving half.
    pub fn split(self) -> (MqttPoster, MqttEvents) {
        (
            MqttPoster {
                client: self.client,
                shared: self.shared,
                gone: self.gone,
                qos: self.target.qos,
                mode: self.target.mode,
            },
            MqttEvents {
                events: self.events,
                early: self.early,
            },
        )
    }
}

/// The sending half of an MQTT connection.
pub struct MqttPoster {
    client: AsyncClient,
    shared: Arc<Shared>,
    gone: watch::Receiver<bool>,
    qos: QoS,
    mode: TopicMode,
}

impl MqttPoster {
    /// Publishes a post to `room`'s topic (rumqttc writes it out at once).
    pub async fn post(&mut self, room: &str, reference: &str, text: &str) -> Result<()> {
        let payload = wire::encode_post(text, reference);
        self.shared.outbox().posted(reference.to_owned());
        self.client
            .publish(self.mode.topic(room), self.qos, false, payload)
            .await
            .context("the MQTT connection is gone")
    }

    /// Whether the broker acknowledges posts (QoS 1).
    pub fn acknowledges(&self) -> bool {
        self.qos != QoS::AtMostOnce
    }

    /// Sends DISCONNECT and waits briefly for the connection to end.
    pub async fn close(&mut self) {
        if self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.gone.wait_for(|g| *g)).await;
        }
    }
}

/// The receiving half of an MQTT connection.
pub struct MqttEvents {
    events: mpsc::Receiver<DriverEvent>,
    early: VecDeque<HubEvent>,
}

impl MqttEvents {
    /// The next event; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Result<HubEvent>> {
        if let Some(ev) = self.early.pop_front() {
            return Some(Ok(ev));
        }
        match self.events.recv().await? {
            DriverEvent::Hub(ev) => Some(Ok(ev)),
            DriverEvent::Failed(e) => Some(Err(anyhow!(e))),
            DriverEvent::Connected | DriverEvent::Subscribed(_) => Some(Ok(HubEvent::Other)),
        }
    }
}

/// `HOST:PORT` split for rumqttc.
fn split_addr(addr: &str) -> Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("MQTT address {addr:?} is not HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("MQTT address {addr:?}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("MQTT address {addr:?} has no host");
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_addresses() {
        assert_eq!(
            split_addr("127.0.0.1:1883").unwrap(),
            ("127.0.0.1".to_string(), 1883)
        );
        assert_eq!(split_addr("[::1]:5").unwrap(), ("::1".to_string(), 5));
        assert!(split_addr("localhost").is_err());
        assert!(split_addr(":1883").is_err());
        assert!(split_addr("h:x").is_err());
    }
}
