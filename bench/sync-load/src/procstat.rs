//! What a server process used, read from `/proc` (Linux).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A process's peak resident set size so far (`VmHWM`), in bytes.
pub(crate) fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// CPU time a process has used so far (user + system, all threads), in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `after` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

/// Keeps the highest peak RSS seen of a process, read every 200 ms, so the
/// figure survives the process exiting.
pub(crate) struct PeakWatch {
    pid: u32,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakWatch {
    pub(crate) fn start(pid: u32) -> PeakWatch {
        let peak = Arc::new(AtomicU64::new(peak_rss_bytes(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match peak_rss_bytes(pid) {
                    Some(now) => seen.fetch_max(now, Ordering::Relaxed),
                    None => return,
                };
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        PeakWatch { pid, peak, stop }
    }

    /// The highest peak RSS so far, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        if let Some(now) = peak_rss_bytes(self.pid) {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// CPU time used by a server and by this process (the simulated clients
/// and the proxy), in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) server: f64,
    pub(crate) clients: f64,
}

impl Usage {
    /// Now, for the server processes `pids` together (the last reading
    /// stays if one of them has exited).
    pub(crate) fn now(pids: &[u32], last: Usage) -> Usage {
        Usage::with_clients(pids, &[], last)
    }

    /// Now, for the server processes `pids` together, and for this process
    /// with the client processes `clients`.
    pub(crate) fn with_clients(pids: &[u32], clients: &[u32], last: Usage) -> Usage {
        let server: Option<f64> = pids.iter().map(|pid| cpu_seconds(*pid)).sum();
        let clients: Option<f64> =
            std::iter::once(std::process::id()).chain(clients.iter().copied()).map(cpu_seconds).sum();
        Usage { server: server.unwrap_or(last.server), clients: clients.unwrap_or(last.clients) }
    }

    /// What was used after `earlier`.
    pub(crate) fn since(&self, earlier: &Usage) -> Usage {
        Usage { server: self.server - earlier.server, clients: self.clients - earlier.clients }
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux in practice).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks: &f64| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_and_cpu_time() {
        let pid = std::process::id();
        assert!(peak_rss_bytes(pid).is_some_and(|b| b > 0));
        let spin: u64 = (0..2_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(cpu_seconds(pid).is_some_and(|s| s >= 0.0));
    }
}
