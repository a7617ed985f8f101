//! Command-line interface: the subcommands and their options.
//!
//! Parsing only; each subcommand's behaviour lives in its own module.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::transport::mqtt::driver::{qos_of, Flap};
use crate::transport::mqtt::wire::TopicMode;
use crate::transport::mqtt::MqttTarget;
use crate::transport::{Endpoints, TransportKind};

/// Simulated Hubbub devices and the load generator behind the benchmarks.
#[derive(Debug, Parser)]
#[command(name = "firmware-sim", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Many clients post into rooms and check every delivery; prints one JSON line.
    Load(LoadArgs),
    /// Hold many idle connections open and report the hub's memory per connection.
    Idle(IdleArgs),
    /// Time `GET /api/rooms/ROOM/messages?limit=L` calls; prints one JSON line.
    HistoryBench(HistoryBenchArgs),
    /// Run the simulated devices of a scenario file (MQTT); logs what each
    /// does and prints a JSON summary line at the end.
    Run(RunArgs),
}

/// Where the hub (or another MQTT broker) is and, optionally, which process it is.
#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// The hub's HTTP/WebSocket address, `HOST:PORT` (for example 127.0.0.1:8080).
    #[arg(long)]
    pub hub: Option<String>,
    /// The MQTT listener, `HOST:PORT`: the hub's, or any MQTT broker's.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// The process id of the hub (or broker): adds its CPU time and memory
    /// (from /proc) to the report.
    #[arg(long)]
    pub hub_pid: Option<u32>,
}

/// How the MQTT clients behave.
#[derive(Debug, Clone, Args)]
pub struct MqttArgs {
    /// QoS of MQTT publishes and subscriptions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// `rooms`: the hub's room topics `rooms/{room}` (stored; canonical JSON
    /// back). `plain`: `bench/{room}`, plain pub/sub, for brokers without rooms.
    #[arg(long, value_enum, default_value_t = TopicMode::Rooms)]
    pub topic_mode: TopicMode,
    /// `persistent` keeps each MQTT client's session (clean session off).
    #[arg(long, value_enum, default_value_t = SessionKind::Clean)]
    pub session: SessionKind,
    /// MQTT keep-alive, seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=65535))]
    pub keep_alive_secs: u64,
}

/// MQTT session kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SessionKind {
    /// Clean session: nothing kept across connections.
    Clean,
    /// Persistent session: subscriptions and QoS 1 messages kept.
    Persistent,
}

impl HubArgs {
    /// The addresses `transport` needs, checked.
    pub fn endpoints(&self, transport: TransportKind, mqtt: &MqttArgs) -> Result<Endpoints> {
        let needs_ws = transport != TransportKind::Mqtt;
        let needs_mqtt = transport != TransportKind::Ws;
        if needs_ws && self.hub.is_none() {
            bail!("--transport {transport:?} needs --hub HOST:PORT (the hub's HTTP/WebSocket address)");
        }
        if needs_mqtt && self.mqtt.is_none() {
            bail!("--transport {transport:?} needs --mqtt HOST:PORT (the MQTT listener)");
        }
        if mqtt.topic_mode == TopicMode::Plain && transport != TransportKind::Mqtt {
            bail!("--topic-mode plain is MQTT only (WebSocket clients always use rooms)");
        }
        Ok(Endpoints {
            ws: self.hub.clone().filter(|_| needs_ws),
            mqtt: self
                .mqtt
                .clone()
                .filter(|_| needs_mqtt)
                .map(|addr| MqttTarget {
                    addr,
                    qos: qos_of(mqtt.qos),
                    mode: mqtt.topic_mode,
                    persistent: mqtt.session == SessionKind::Persistent,
                    keep_alive_secs: mqtt.keep_alive_secs,
                }),
        })
    }
}

/// Options of `firmware-sim load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The hub to load.
    #[command(flatten)]
    pub hub: HubArgs,
    /// How the clients talk to the hub.
    #[arg(long, value_enum, default_value_t = TransportKind::Ws)]
    pub transport: TransportKind,
    /// MQTT client behaviour.
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// Number of clients (one connection each).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,
    /// Number of rooms; client `i` joins room `i % rooms`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rooms: u32,
    /// Messages each client posts.
    #[arg(long, default_value_t = 100)]
    pub messages: u64,
    /// Most un-acknowledged posts a client keeps in flight (the default pacing, 16).
    #[arg(long, conflicts_with = "rate", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub window: Option<u32>,
    /// Post at this fixed total rate (messages per second over all clients) instead of a window.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Size in bytes of each message text (the send timestamp plus padding).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Rooms are named `PREFIX-0`, `PREFIX-1`, ….
    #[arg(long, default_value = "load")]
    pub room_prefix: String,
    /// Give up waiting for posts and deliveries after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// After a client has everything, it keeps listening this long to
    /// catch late duplicates (not counted in `elapsed_s`).
    #[arg(long, default_value_t = 200)]
    pub linger_ms: u64,
    /// Once every sender of a room is done, a receiver that has heard
    /// nothing for this long stops waiting: what it lacks is lost. The same
    /// silence frees a sender's window of posts that never came back.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// Fault injection (MQTT): client 0 loses its connection after its
    /// N-th delivery (the socket is dropped, no DISCONNECT) and comes back
    /// `--flap-ms` later. With QoS 0 or a clean session, what was published
    /// meanwhile is lost to it: a test of the loss detector.
    #[arg(long)]
    pub flap_after: Option<u64>,
    /// How long the flapping client stays away, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub flap_ms: u64,
}

impl LoadArgs {
    /// The overall deadline for the posting phase.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The addresses the clients need, checked.
    pub fn endpoints(&self) -> Result<Endpoints> {
        if self.flap_after.is_some() && self.transport.wire_for(0) != crate::transport::Wire::Mqtt {
            bail!("--flap-after needs client 0 on MQTT (--transport mqtt)");
        }
        self.hub.endpoints(self.transport, &self.mqtt)
    }

    /// The flap client 0 is to make, if any.
    pub fn flap(&self) -> Option<Flap> {
        self.flap_after.map(|after| Flap {
            after,
            down: Duration::from_millis(self.flap_ms),
        })
    }
}

/// Options of `firmware-sim idle`.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// The hub to connect to.
    #[command(flatten)]
    pub hub: HubArgs,
    /// How the connections talk to the hub.
    #[arg(long, value_enum, default_value_t = TransportKind::Ws)]
    pub transport: TransportKind,
    /// MQTT client behaviour.
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// Number of idle connections to open.
    #[arg(long, default_value_t = 100)]
    pub connections: u32,
    /// Seconds to hold them open before measuring.
    #[arg(long, default_value_t = 5)]
    pub hold_secs: u64,
    /// Connections are spread over this many rooms, `PREFIX-0`, ….
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rooms: u32,
    /// Room name prefix.
    #[arg(long, default_value = "idle")]
    pub room_prefix: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

/// Options of `firmware-sim history-bench`.
#[derive(Debug, Clone, Args)]
pub struct HistoryBenchArgs {
    /// The hub's HTTP address, `HOST:PORT`.
    #[arg(long)]
    pub hub: String,
    /// The room whose history is read.
    #[arg(long)]
    pub room: String,
    /// Number of timed queries.
    #[arg(long, default_value_t = 2000)]
    pub queries: u32,
    /// The `limit` of each query (latest N messages).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Untimed queries first, to warm caches and the connection.
    #[arg(long, default_value_t = 20)]
    pub warmup: u32,
}

/// Options of `firmware-sim run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario file (TOML; examples in config/scenarios/).
    pub scenario: PathBuf,
    /// The MQTT broker, `HOST:PORT`; overrides the file's `broker.mqtt`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Stop after this many seconds (overrides the file's `duration_secs`);
    /// without either, run until interrupted.
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Turn on the flaky network (the file's `[flaky]` settings, or their defaults).
    #[arg(long)]
    pub flaky: bool,
    /// Seed for every random choice (readings, jitter, faults); default: from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Log as JSON lines instead of human-readable ones.
    #[arg(long)]
    pub log_json: bool,
}
