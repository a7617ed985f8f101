//! `firmware-sim run scenario.toml`: simulated devices on MQTT, each a
//! task of its own, for a set time or until interrupted; every device logs
//! what it does, and one JSON line sums the run up at the end.

pub mod backoff;
pub mod config;
pub mod device;
pub mod devices;
pub mod flaky;
pub mod options;
pub mod report;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cli::RunArgs;
use device::DeviceRun;
use report::{DeviceReport, RunReport};

/// How long the devices may take to say goodbye once stopped.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs the scenario of `args` and returns its report.
pub async fn run(args: &RunArgs) -> Result<RunReport> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let scenario =
        config::parse(&text).with_context(|| format!("in {}", args.scenario.display()))?;
    let broker = args
        .mqtt
        .clone()
        .or(scenario.broker.clone())
        .ok_or_else(|| anyhow!("no broker: give --mqtt HOST:PORT or set broker.mqtt"))?;
    let duration = match args.duration_secs {
        Some(s) => Some(
            config::duration_of(s, false)
                .ok_or_else(|| anyhow!("--duration-secs must be a positive number of seconds"))?,
        ),
        None => scenario.duration,
    };
    let flaky_on = args.flaky || scenario.flaky.enabled;
    let seed = args.seed.unwrap_or_else(clock_seed);
    let boot = format!("{:08x}", (seed ^ clock_seed()) as u32);
    info!(
        scenario = %args.scenario.display(),
        broker = %broker,
        devices = scenario.devices.len(),
        duration_s = duration.map(|d| d.as_secs_f64()),
        flaky = flaky_on,
        seed,
        "scenario starting"
    );

    let stop = CancellationToken::new();
    let start = Instant::now();
    let tasks: Vec<_> = scenario
        .devices
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let run = DeviceRun {
                spec: spec.clone(),
                broker: broker.clone(),
                flaky: scenario.flaky_for(spec, flaky_on),
                seed: seed
                    .wrapping_add(i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
                start,
                boot: boot.clone(),
            };
            (
                spec.id.clone(),
                tokio::spawn(device::run(run, stop.clone())),
            )
        })
        .collect();

    let until_done = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = until_done => info!("scenario time is up; stopping the devices"),
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => info!("interrupted; stopping the devices"),
            Err(e) => warn!(error = %e, "cannot wait for Ctrl-C; stopping"),
        },
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.cancel();
    let deadline = Instant::now() + STOP_GRACE;
    let mut reports = Vec::with_capacity(tasks.len());
    for (id, task) in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => {
                warn!(device = %id, error = %e, "device task failed");
                reports.push(DeviceReport {
                    id,
                    ..DeviceReport::default()
                });
            }
            Err(_) => {
                abort.abort();
                warn!(device = %id, "device did not stop in time");
                reports.push(DeviceReport {
                    id,
                    ..DeviceReport::default()
                });
            }
        }
    }
    Ok(RunReport::new(
        args.scenario.display().to_string(),
        broker,
        elapsed,
        seed,
        flaky_on,
        reports,
    ))
}

impl config::Scenario {
    /// The flaky settings that hit `device`, if the flaky network is on.
    fn flaky_for(&self, device: &config::DeviceSpec, on: bool) -> Option<config::FlakyConfig> {
        (on && device.flaky).then_some(self.flaky)
    }
}

/// A seed from the clock and the process id.
fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

/// Logs to standard error, human-readable or as JSON lines; `RUST_LOG`
/// overrides the default level (info).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("firmware-sim: logging is off: {e}");
    }
}
