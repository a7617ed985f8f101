//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// Hubbub: an embedded chat hub for edge devices. With no arguments it
/// starts on loopback with its embedded defaults.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Config file (TOML); see config/hubbub.toml for every key.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides hub.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// HTTP listen address (overrides http.listen); port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// MQTT listen address (overrides mqtt.listen); port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub mqtt: Option<SocketAddr>,
    /// Log format (overrides log.format).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file and explain every problem with its key.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}
