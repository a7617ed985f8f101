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
    #[arg(long, value_name = "DIR", global = true)]
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
    /// Manage users (people and devices). Works whether or not the hub is
    /// running: a running hub is asked through its control socket.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage who may see and post in a room.
    #[command(subcommand)]
    Room(RoomCommand),
}

/// `hubbub user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prompts for the password, or reads one line from stdin.
    Add {
        /// User name.
        name: String,
        /// Give it the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Delete a user and end its sessions.
    Del {
        /// User name.
        name: String,
    },
    /// List users.
    List,
    /// Set a user's password (prompted, or one line from stdin); ends its
    /// sessions.
    Passwd {
        /// User name.
        name: String,
    },
    /// Grant or take away the admin role.
    Role {
        /// User name.
        name: String,
        /// `admin` or `user`.
        #[arg(value_parser = ["admin", "user"])]
        role: String,
    },
    /// End every login session of a user.
    Revoke {
        /// User name.
        name: String,
    },
}

/// `hubbub room ...`
#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Rooms with rules, and their rules.
    List,
    /// A room's rules and where they come from.
    Show {
        /// Room name.
        room: String,
    },
    /// Set a room's rules (replacing the config file's for that room).
    Set {
        /// Room name.
        room: String,
        /// Only its members, readers and writers may see it.
        #[arg(long)]
        private: bool,
        /// Users who may read and write (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "USERS")]
        members: Vec<String>,
        /// Users who may only read (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "USERS")]
        readers: Vec<String>,
        /// Users who may write; on a public room, the only ones who may
        /// (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "USERS")]
        writers: Vec<String>,
    },
    /// Drop the rules set with `room set`; the config file's apply again.
    Clear {
        /// Room name.
        room: String,
    },
}
