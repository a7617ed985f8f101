//! Log output: human-readable by default, JSON lines on request; always to
//! stderr, quiet at the default level.

use std::io::IsTerminal;

use tracing_subscriber::filter::{ParseError, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Parses a `log.level` (or `RUST_LOG`) filter: a level (`info`), targets
/// with levels (`hubbub_bridge::mqtt=debug`), or a comma-separated list of
/// both (`hubbub=debug,info`). Targets match by prefix.
///
/// A plain target filter, not `EnvFilter`: that one's span and field
/// directives need a regex engine, about 0.3 MB of the ARM binary.
pub fn filter(level: &str) -> Result<Targets, ParseError> {
    level.parse()
}

/// Installs the global subscriber. `RUST_LOG`, when set and valid,
/// overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let from_env = std::env::var("RUST_LOG").ok().and_then(|l| filter(&l).ok());
    let targets = from_env
        .or_else(|| filter(level).ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Human => {
            let builder = builder.with_ansi(std::io::stderr().is_terminal());
            builder.finish().with(targets).init();
        }
        LogFormat::Json => builder.json().finish().with(targets).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn filters_are_levels_and_targets() {
        for ok in [
            "info",
            "off",
            "hubbub=debug,info",
            "hubbub_bridge::mqtt=trace,warn",
        ] {
            assert!(filter(ok).is_ok(), "{ok}");
        }
        for bad in ["hubbub=loud", "info,=debug=x"] {
            assert!(filter(bad).is_err(), "{bad}");
        }
    }
}
