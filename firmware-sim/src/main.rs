//! `firmware-sim`: simulated Hubbub clients and devices, and the load
//! generator behind the benchmarks (`bench/run.sh`). Each subcommand prints
//! one JSON line on standard output and exits 0 when the run was clean, 1
//! when it measured a problem (loss, duplication, disorder, failed
//! connections) and 2 when it could not run at all.

mod cli;
mod history_bench;
mod idle;
mod load;
mod procfs;
mod scenario;
mod stats;
mod transport;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("firmware-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the subcommand; `Ok(false)` when it measured a problem.
async fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Load(args) => {
            let report = load::run(&args).await?;
            print_line(&report)?;
            if !report.ok {
                eprintln!("firmware-sim load: {}", report.problems.join("; "));
            }
            Ok(report.ok)
        }
        Command::Idle(args) => {
            let report = idle::run(&args).await?;
            print_line(&report)?;
            Ok(report.ok)
        }
        Command::HistoryBench(args) => {
            let report = history_bench::run(&args).await?;
            print_line(&report)?;
            Ok(true)
        }
        Command::Run(args) => {
            scenario::init_logging(args.log_json);
            let report = scenario::run(&args).await?;
            print_line(&report)?;
            Ok(report.ok)
        }
    }
}

/// Prints `value` as one line of JSON.
fn print_line(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
