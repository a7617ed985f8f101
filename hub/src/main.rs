//! `hubbub`: the binary. Thin glue: arguments, config, logging, wiring and
//! exit codes. The room service is `hubbub-core`; the transports are
//! `hubbub-bridge`.

mod admin;
mod cli;
mod config;
mod control;
mod logging;
mod serve;
mod uplink;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;

fn main() -> ExitCode {
    keep_big_blocks_out_of_the_heap();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hubbub: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::CheckConfig { file }) = &cli.command {
        Config::load(file)?;
        println!("{}: ok", file.display());
        return Ok(());
    }
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = cli.data {
        config.hub.data_dir = dir;
    }
    match cli.command {
        Some(Command::User(command)) => return admin::run(&config, admin::user_request(command)?),
        Some(Command::Room(command)) => return admin::run(&config, admin::room_request(command)),
        Some(Command::CheckConfig { .. }) | None => {}
    }
    if let Some(addr) = cli.http {
        config.http.listen = addr;
    }
    if let Some(addr) = cli.mqtt {
        config.mqtt.listen = addr;
    }
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    if let Some(problem) = config.exposure_problem() {
        anyhow::bail!("{problem}");
    }
    logging::init(config.log.format, &config.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hubbub")
        .build()?;
    runtime.block_on(serve::run(config))
}

/// glibc raises its mmap threshold to the size of the largest block freed;
/// after the first password check (argon2 takes 19 MiB for ~0.1 s) every
/// later one would come from the heap of its thread and stay resident:
/// 20 logins grew the hub from 10 MB to 185-300 MB. A fixed threshold
/// keeps big blocks in mmap, returned to the system when freed.
fn keep_big_blocks_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
