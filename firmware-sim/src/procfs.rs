//! Sampling another process (the hub) through /proc: CPU time and memory.

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

/// One look at a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size now, in KiB (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set size since the process started, in KiB (`VmHWM`).
    pub hwm_kb: u64,
}

/// What a process used between two samples.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProcUsage {
    /// CPU seconds (user + system) spent between the samples.
    pub cpu_s: f64,
    /// Resident set size at the second sample, KiB.
    pub rss_kb: u64,
    /// Peak resident set size at the second sample, KiB.
    pub rss_peak_kb: u64,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`.
pub fn sample(pid: u32) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the hub running?)"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(ProcSample {
        cpu_ticks: parse_cpu_ticks(&stat)?,
        rss_kb: parse_status_kb(&status, "VmRSS")?,
        hwm_kb: parse_status_kb(&status, "VmHWM")?,
    })
}

/// Clock ticks per second, for converting [`ProcSample::cpu_ticks`].
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// The usage between `before` and `after`.
pub fn usage(before: ProcSample, after: ProcSample) -> ProcUsage {
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks);
    ProcUsage {
        cpu_s: ticks as f64 / clock_ticks_per_sec() as f64,
        rss_kb: after.rss_kb,
        rss_peak_kb: after.hwm_kb,
    }
}

/// utime + stime (fields 14 and 15) from the text of `/proc/PID/stat`.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself, so count fields from the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc stat format"))?;
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .ok_or_else(|| anyhow!("/proc stat has no field {n}"))?
            .parse()
            .with_context(|| format!("/proc stat field {n}"))
    };
    Ok(field(14)? + field(15)?)
}

/// The value in KiB of a `Key:   123 kB` line of `/proc/PID/status`.
fn parse_status_kb(status: &str, key: &str) -> Result<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("/proc status has no {key}"))
}

/// Raises this process's open-file limit to its hard limit, so that
/// thousands of connections fit. Returns the new soft limit.
pub fn raise_open_file_limit() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_name() {
        let stat = "1234 (hub (x) y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 8 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 325);
        assert!(parse_cpu_ticks("garbage").is_err());
    }

    #[test]
    fn parses_status() {
        let status = "Name:\thubbub\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS").unwrap(), 8192);
        assert_eq!(parse_status_kb(status, "VmHWM").unwrap(), 10240);
        assert!(parse_status_kb(status, "VmSwap").is_err());
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
        assert!(clock_ticks_per_sec() > 0);
    }
}
