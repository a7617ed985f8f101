//! Command-line interface: the subcommands and their options.
//!
//! Parsing only; each subcommand's behaviour lives in its own module.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::transport::TransportKind;

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
}

/// Where the hub is and, optionally, which process it is.
#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// The hub's HTTP/WebSocket address, `HOST:PORT` (for example 127.0.0.1:8080).
    #[arg(long)]
    pub hub: String,
    /// The hub's process id: adds its CPU time and memory (from /proc) to the report.
    #[arg(long)]
    pub hub_pid: Option<u32>,
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
}

impl LoadArgs {
    /// The overall deadline for the posting phase.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
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
