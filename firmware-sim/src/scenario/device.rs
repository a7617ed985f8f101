//! One simulated device on its MQTT connection, like real firmware: it
//! connects (client id, credentials, keep-alive, last will), subscribes,
//! acts on its schedule, answers what it receives, and when the connection
//! is lost it keeps what it had not sent and reconnects after an
//! exponential backoff with jitter. The flaky network drops or stalls the
//! connection at random.
//!
//! The event loop is polled in a `select!` with the device's timers. A poll
//! cut short at an await is harmless here: reads keep partial frames
//! buffered, and writes only wait when the socket's buffer is full, which a
//! device's trickle of small packets never fills.

use std::collections::VecDeque;
use std::future::pending;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS, Request, Subscribe,
    SubscribeReasonCode,
};
use tokio::time::{sleep_until, Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::config::{DeviceSpec, FlakyConfig};
use super::devices::{self, Behaviour, Outbound, Purpose};
use super::flaky::{Fault, FaultClock};
use super::options::{self, REQUEST_QUEUE};
use super::report::DeviceReport;

/// How long an orderly goodbye may take.
const GOODBYE: Duration = Duration::from_secs(2);

/// Everything a device needs to run.
#[derive(Debug, Clone)]
pub struct DeviceRun {
    /// The device.
    pub spec: DeviceSpec,
    /// The broker, `HOST:PORT`.
    pub broker: String,
    /// The flaky network, if it hits this device.
    pub flaky: Option<FlakyConfig>,
    /// Seed of its random choices.
    pub seed: u64,
    /// When the scenario started (schedules count from here).
    pub start: Instant,
    /// Tag unique to this run, for post refs.
    pub boot: String,
}

/// What woke the device's loop.
enum Wake {
    Stop,
    Resume,
    Due,
    Fault,
    Polled(Result<Event, ConnectionError>),
}

/// A running device.
struct Device {
    id: String,
    spec: DeviceSpec,
    client: AsyncClient,
    el: EventLoop,
    behaviour: Box<dyn Behaviour>,
    rng: StdRng,
    backoff: Backoff,
    faults: Option<FaultClock>,
    report: DeviceReport,
    connected: bool,
    /// Requests not sent when the connection was lost, sent after the next CONNACK.
    held: VecDeque<Request>,
    /// No polling until then (backing off, or stalled).
    paused_until: Option<Instant>,
}

/// Runs a device until `stop`, then says goodbye; returns its counters.
pub async fn run(d: DeviceRun, stop: CancellationToken) -> DeviceReport {
    let mut report = DeviceReport {
        id: d.spec.id.clone(),
        kind: Some(d.spec.kind),
        ..DeviceReport::default()
    };
    let options = match options::mqtt_options(&d.spec.connection, &d.broker) {
        Ok(o) => o,
        Err(e) => {
            warn!(device = %d.spec.id, error = %format!("{e:#}"), "cannot start");
            return report;
        }
    };
    let (client, el) = AsyncClient::new(options, REQUEST_QUEUE);
    let mut rng = StdRng::seed_from_u64(d.seed);
    let faults = d
        .flaky
        .map(|f| FaultClock::new(f, Instant::now(), &mut rng));
    report.kind = Some(d.spec.kind);
    let mut device = Device {
        id: d.spec.id.clone(),
        behaviour: devices::build(&d.spec.behaviour, &d.spec.id, &d.boot, d.start),
        backoff: Backoff::new(&d.spec.connection.reconnect),
        spec: d.spec,
        client,
        el,
        rng,
        faults,
        report,
        connected: false,
        held: VecDeque::new(),
        paused_until: None,
    };
    info!(device = %device.id, kind = ?device.spec.kind, broker = %d.broker, "starting");
    device.run(&stop).await;
    device.goodbye().await;
    device.report
}

impl Device {
    fn qos(&self) -> QoS {
        options::qos(self.spec.connection.qos)
    }

    async fn run(&mut self, stop: &CancellationToken) {
        loop {
            let connecting = !self.connected && self.paused_until.is_none();
            let due = self.behaviour.next_due().filter(|_| !connecting);
            let fault_at = self
                .faults
                .as_ref()
                .filter(|_| self.connected && self.paused_until.is_none())
                .map(FaultClock::next_at);
            let paused = self.paused_until;
            let wake = {
                let el = &mut self.el;
                tokio::select! {
                    biased;
                    () = stop.cancelled() => Wake::Stop,
                    () = until(paused) => Wake::Resume,
                    () = until(due) => Wake::Due,
                    () = until(fault_at) => Wake::Fault,
                    p = el.poll(), if paused.is_none() => Wake::Polled(p),
                }
            };
            let now = Instant::now();
            match wake {
                Wake::Stop => return,
                Wake::Resume => self.paused_until = None,
                Wake::Due => {
                    for out in self.behaviour.due(now, &mut self.rng) {
                        self.publish(out);
                    }
                }
                Wake::Fault => self.fault(now),
                Wake::Polled(Ok(event)) => self.handle(event, now),
                Wake::Polled(Err(e)) => self.lost(&e.to_string(), now),
            }
        }
    }

    fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Incoming(Incoming::ConnAck(ack)) => self.on_connected(ack.session_present),
            Event::Incoming(Incoming::Publish(p)) => {
                self.report.received += 1;
                debug!(device = %self.id, topic = %p.topic, bytes = p.payload.len(), "received");
                for out in self.behaviour.on_message(&p.topic, &p.payload, now) {
                    self.publish(out);
                }
            }
            Event::Incoming(Incoming::PubAck(_)) => self.report.acked += 1,
            Event::Incoming(Incoming::SubAck(ack)) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                    .count() as u64;
                if refused > 0 {
                    self.report.refused_subscriptions += refused;
                    warn!(device = %self.id, refused, "the broker refused a subscription");
                }
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, session_present: bool) {
        self.connected = true;
        self.report.connects += 1;
        self.backoff.reset();
        info!(device = %self.id, session_present, "connected");
        let mut requests = std::mem::take(&mut self.held);
        if !session_present {
            // A new session: nothing in flight survives; subscribe again, first.
            requests.retain(|r| matches!(r, Request::Publish(_)));
            let qos = self.qos();
            for filter in self.behaviour.subscriptions().into_iter().rev() {
                info!(device = %self.id, filter = %filter, "subscribing");
                requests.push_front(Request::Subscribe(Subscribe::new(filter, qos)));
            }
        }
        let mut kept = std::mem::take(&mut self.el.pending);
        kept.extend(requests);
        self.el.pending = kept;
        if let Some(w) = &self.spec.connection.will {
            if let Some(online) = &w.online {
                let birth = Outbound {
                    topic: w.topic.clone(),
                    payload: online.clone().into_bytes(),
                    retain: w.retain,
                    purpose: Purpose::Reading,
                    summary: format!("status {online}"),
                };
                self.publish(birth);
            }
        }
    }

    fn lost(&mut self, error: &str, now: Instant) {
        if self.connected {
            self.report.disconnects += 1;
            warn!(device = %self.id, error, "connection lost");
        } else {
            self.report.connect_failures += 1;
            warn!(device = %self.id, error, "connecting failed");
        }
        self.connected = false;
        self.hold_pending();
        self.back_off(now);
    }

    fn fault(&mut self, now: Instant) {
        let Some(faults) = self.faults.as_mut() else {
            return;
        };
        match faults.take(now, &mut self.rng) {
            Fault::Drop => {
                self.report.faults_dropped += 1;
                warn!(device = %self.id, "flaky network: connection dropped");
                self.el.clean();
                self.connected = false;
                self.hold_pending();
                self.back_off(now);
            }
            Fault::Stall(d) => {
                self.report.faults_stalled += 1;
                warn!(device = %self.id, stall_ms = d.as_millis() as u64, "flaky network: stalled");
                self.paused_until = Some(now + d);
            }
        }
    }

    /// Keeps what rumqttc had not sent, to send after reconnecting (rumqttc
    /// itself would drop it on a new session).
    fn hold_pending(&mut self) {
        let pending = std::mem::take(&mut self.el.pending);
        self.held.extend(pending);
    }

    fn back_off(&mut self, now: Instant) {
        let delay = self.backoff.next_delay(&mut self.rng);
        info!(device = %self.id, delay_ms = delay.as_millis() as u64, "reconnecting after a backoff");
        self.paused_until = Some(now + delay);
    }

    fn publish(&mut self, out: Outbound) {
        let qos = self.qos();
        match self
            .client
            .try_publish(out.topic.clone(), qos, out.retain, out.payload)
        {
            Ok(()) => {
                self.report.published += 1;
                if out.purpose == Purpose::Reply {
                    self.report.replies += 1;
                }
                let what = match out.purpose {
                    Purpose::Reading => "publish",
                    Purpose::Ring => "ring",
                    Purpose::Reply => "reply",
                };
                info!(
                    device = %self.id,
                    topic = %out.topic,
                    queued = !self.connected,
                    "{what}: {}",
                    out.summary
                );
            }
            Err(e) => {
                self.report.dropped += 1;
                warn!(device = %self.id, topic = %out.topic, error = %e, "queue full: publish dropped");
            }
        }
    }

    /// An orderly stop: the "offline" status (if it has one), then DISCONNECT.
    async fn goodbye(&mut self) {
        if !self.connected {
            info!(device = %self.id, "stopped (was not connected)");
            return;
        }
        if let Some(w) = self
            .spec
            .connection
            .will
            .clone()
            .filter(|w| w.online.is_some())
        {
            self.publish(Outbound {
                topic: w.topic,
                payload: w.payload.clone().into_bytes(),
                retain: w.retain,
                purpose: Purpose::Reading,
                summary: format!("status {}", w.payload),
            });
        }
        if self.client.try_disconnect().is_err() {
            return;
        }
        let el = &mut self.el;
        let done = tokio::time::timeout(GOODBYE, async {
            loop {
                match el.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        match done {
            Ok(()) => info!(device = %self.id, "disconnected"),
            Err(_) => warn!(device = %self.id, "no orderly disconnect within {GOODBYE:?}"),
        }
    }
}

/// Sleeps until `at`, or forever if there is none.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}
