//! The task that owns one load client's rumqttc event loop.
//!
//! rumqttc makes progress only while its event loop is polled, and a poll
//! must never be cancelled halfway (it may be writing), so one task polls it
//! for the connection's whole life and forwards what happens over a
//! channel. It also maps PUBACKs to posts ([`Outbox`]) and, when asked,
//! drops the connection once mid-run (a "flap") to test loss detection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{Event, EventLoop, Incoming, Outgoing, QoS, Request, Subscribe, SubscribeReasonCode};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::outbox::Outbox;
use super::wire::{decode_delivery, TopicMode};
use crate::transport::HubEvent;

/// How long a goodbye (DISCONNECT) may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A deliberate connection loss: after the `after`-th delivery the socket is
/// dropped without a DISCONNECT, and the client comes back `down` later
/// with the same client id and session setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    /// Deliveries before the drop.
    pub after: u64,
    /// How long the client stays away.
    pub down: Duration,
}

/// What the driver tells the connection.
#[derive(Debug)]
pub enum DriverEvent {
    /// The first CONNACK arrived.
    Connected,
    /// A SUBACK arrived: `Err` with the refused filter's position if refused.
    Subscribed(Result<(), String>),
    /// Something for the load client.
    Hub(HubEvent),
    /// The connection failed; the driver has stopped.
    Failed(String),
}

/// State shared by the poster and the driver.
#[derive(Debug, Default)]
pub struct Shared {
    /// Posts on their way, for mapping PUBACKs.
    pub outbox: Mutex<Outbox>,
    /// Filters subscribed, to subscribe again after a flap with a clean session.
    pub filters: Mutex<Vec<(String, QoS)>>,
}

impl Shared {
    /// Locks the outbox (a poisoned lock is still usable: it holds plain data).
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn filters(&self) -> Vec<(String, QoS)> {
        self.filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How the driver reads what arrives.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    /// The topic mode, for decoding deliveries.
    pub mode: TopicMode,
    /// Drop the connection once, mid-run.
    pub flap: Option<Flap>,
}

/// Polls `el` until the connection ends, the receiver goes away, or a
/// goodbye is done; then sets `gone`.
pub async fn run(
    mut el: EventLoop,
    tx: mpsc::Sender<DriverEvent>,
    shared: Arc<Shared>,
    config: DriverConfig,
    gone: watch::Sender<bool>,
) {
    let mut deliveries = 0u64;
    let mut flap = config.flap;
    // Requests held across a flap, put back once reconnected.
    let mut held: Option<VecDeque<Request>> = None;
    let mut closing: Option<Instant> = None;
    loop {
        let close_at = closing.unwrap_or_else(Instant::now);
        let polled = tokio::select! {
            biased;
            () = tx.closed() => break,
            () = tokio::time::sleep_until(close_at), if closing.is_some() => break,
            p = el.poll() => p,
        };
        let event = match polled {
            Ok(e) => e,
            Err(e) => {
                if closing.is_none() {
                    let _ = tx
                        .send(DriverEvent::Failed(format!("MQTT connection lost: {e}")))
                        .await;
                }
                break;
            }
        };
        let out = match event {
            Event::Incoming(Incoming::ConnAck(ack)) => match held.take() {
                None => Some(DriverEvent::Connected),
                Some(mut requests) => {
                    if !ack.session_present {
                        // A new session: nothing in flight survives, and the
                        // subscriptions must be made again, first.
                        requests.retain(|r| matches!(r, Request::Publish(_)));
                        for (filter, qos) in shared.filters().into_iter().rev() {
                            requests.push_front(Request::Subscribe(Subscribe::new(filter, qos)));
                        }
                    }
                    el.pending = requests;
                    Some(DriverEvent::Hub(HubEvent::Reconnected))
                }
            },
            Event::Incoming(Incoming::Publish(p)) => {
                deliveries += 1;
                Some(DriverEvent::Hub(decode_delivery(
                    config.mode,
                    &p.topic,
                    &p.payload,
                )))
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                let reference = shared.outbox().acked(ack.pkid);
                Some(DriverEvent::Hub(match reference {
                    Some(r) => HubEvent::Ack {
                        reference: Some(r),
                        seq: None,
                        duplicate: false,
                    },
                    None => HubEvent::Malformed(format!(
                        "PUBACK for packet id {} which is not in flight",
                        ack.pkid
                    )),
                }))
            }
            Event::Incoming(Incoming::SubAck(ack)) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .position(|c| matches!(c, SubscribeReasonCode::Failure));
                Some(DriverEvent::Subscribed(match refused {
                    Some(i) => Err(format!("the broker refused subscription {i}")),
                    None => Ok(()),
                }))
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                shared.outbox().written(pkid);
                None
            }
            Event::Outgoing(Outgoing::Disconnect) => {
                closing = Some(Instant::now() + CLOSE_GRACE);
                None
            }
            _ => None,
        };
        if let Some(out) = out {
            if tx.send(out).await.is_err() {
                break;
            }
        }
        if let Some(f) = flap.filter(|f| deliveries >= f.after && closing.is_none()) {
            flap = None;
            // Drop the socket the way a dying network does: no DISCONNECT.
            el.clean();
            held = Some(std::mem::take(&mut el.pending));
            tokio::select! {
                () = tx.closed() => break,
                () = tokio::time::sleep(f.down) => {}
            }
        }
    }
    let _ = gone.send(true);
}

/// The QoS of a `--qos` number (0 or 1; anything higher is QoS 1, the most
/// the hub delivers room messages with).
pub fn qos_of(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}
