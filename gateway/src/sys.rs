//! What a process can learn about its own resources: open fds, the fd
//! limit, resident memory.

/// Open file descriptors of this process (entries of `/proc/self/fd`).
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// Open fds, estimated cheaply enough to consult on every accept.
///
/// Counting `/proc/self/fd` costs time proportional to the fds open, so
/// doing it per accept makes accepting n connections O(n²) (it capped a
/// node near 300 connects/s at 5,000 sessions), and even ten scans a second
/// of 5,000 fds took 8% of a node's CPU in a reconnect storm. The estimate
/// re-scans at most every `every` and in between adds the change of a live
/// count the caller keeps (its open connections). Only a refusal needs the
/// exact count: [`FdEstimate::reaches`] confirms an estimate at the limit
/// with a fresh scan, at most every `confirm`.
#[derive(Debug)]
pub struct FdEstimate {
    every: std::time::Duration,
    confirm: std::time::Duration,
    last: std::sync::Mutex<Option<(std::time::Instant, u64, u64)>>,
}

impl FdEstimate {
    /// Re-scans at most every `every`, or every `confirm` while at a limit.
    pub fn new(every: std::time::Duration, confirm: std::time::Duration) -> Self {
        FdEstimate {
            every,
            confirm,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The estimate, given the caller's live count now.
    pub fn get(&self, live: u64) -> u64 {
        self.get_with(live, self.every, open_fds)
    }

    /// Whether the open fds reach `limit`: the estimate when below it, a
    /// count at most `confirm` old when the estimate says so.
    pub fn reaches(&self, live: u64, limit: u64) -> bool {
        self.reaches_with(live, limit, open_fds)
    }

    fn reaches_with(&self, live: u64, limit: u64, scan: impl Fn() -> u64) -> bool {
        self.get_with(live, self.every, &scan) >= limit
            && self.get_with(live, self.confirm, &scan) >= limit
    }

    fn get_with(&self, live: u64, max_age: std::time::Duration, scan: impl Fn() -> u64) -> u64 {
        let mut last = self.last.lock().unwrap();
        match *last {
            Some((at, fds, live_then)) if at.elapsed() < max_age => {
                (fds + live).saturating_sub(live_then)
            }
            _ => {
                let fds = scan();
                *last = Some((std::time::Instant::now(), fds, live));
                fds
            }
        }
    }
}

/// CPU time (user + system, all threads) a process has used, in seconds:
/// `pid` on this host, or this process for `None`. `None` if it is gone.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_stat_cpu_ticks(&stat).map(|t| t as f64 / ticks.max(1) as f64)
}

/// utime + stime (clock ticks) from a `/proc/<pid>/stat` line. The command
/// name, in parentheses, may hold spaces and parentheses itself, so fields
/// are counted from the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, utime 14 and stime 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The soft `RLIMIT_NOFILE`.
pub fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}

/// Raises the soft fd limit to the hard one (the simulator needs many
/// sockets); returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
    nofile_limit()
}

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_vm_rss(&s))
        .unwrap_or(0)
}

/// Parses the `VmRSS:` line (in kB) of a `/proc/<pid>/status` text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_resources() {
        assert!(open_fds() >= 3);
        assert!(nofile_limit() >= open_fds());
        assert!(rss_bytes() > 0);
        assert_eq!(
            parse_vm_rss("Name: x\nVmRSS:\t  2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn cpu_time_from_stat_lines() {
        let line =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 157 43 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(line), Some(200));
        assert_eq!(parse_stat_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_stat_cpu_ticks("no name"), None);
        let before = cpu_seconds(None).expect("own stat");
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(150) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(
            cpu_seconds(None).unwrap() > before,
            "150 ms of spinning shows"
        );
        assert_eq!(cpu_seconds(Some(u32::MAX)), None);
    }

    #[test]
    fn fd_estimate_scans_rarely_and_follows_the_live_count() {
        let hour = std::time::Duration::from_secs(3600);
        let e = FdEstimate::new(hour, hour);
        let scans = std::cell::Cell::new(0);
        let scan = |v: u64| {
            scans.set(scans.get() + 1);
            v
        };
        assert_eq!(e.get_with(10, hour, || scan(50)), 50);
        assert_eq!(e.get_with(15, hour, || scan(999)), 55, "5 more connections");
        assert_eq!(e.get_with(2, hour, || scan(999)), 42, "13 fewer");
        assert_eq!(scans.get(), 1, "one scan within the interval");
        let zero = std::time::Duration::ZERO;
        assert_eq!(e.get_with(1, zero, || scan(7)), 7, "stale: re-scanned");
        assert_eq!(e.get_with(1, zero, || scan(8)), 8);
        assert!(FdEstimate::new(zero, zero).get(0) >= 3);
    }

    #[test]
    fn fd_limit_is_confirmed_by_a_fresh_count_before_a_refusal() {
        let hour = std::time::Duration::from_secs(3600);
        let zero = std::time::Duration::ZERO;
        // Scanned 90 fds with 10 connections live; 20 more connections make
        // the estimate 110, but sockets closed outside the live count leave
        // only 95 open: the fresh count must decide.
        let e = FdEstimate::new(hour, zero);
        let scans = &std::cell::Cell::new(0);
        let counting = |v: u64| {
            move || {
                scans.set(scans.get() + 1);
                v
            }
        };
        assert!(!e.reaches_with(10, 100, counting(90)));
        assert!(
            !e.reaches_with(30, 100, counting(95)),
            "estimate 110, count 95"
        );
        assert_eq!(
            scans.get(),
            2,
            "below the limit by estimate: no scan; at it: one"
        );
        assert!(
            e.reaches_with(60, 100, counting(120)),
            "a real count at the limit refuses"
        );
        // Below the limit by estimate, nothing is scanned however often asked.
        let calm = FdEstimate::new(hour, zero);
        assert!(!calm.reaches_with(0, 100, counting(10)));
        for live in 0..50 {
            assert!(!calm.reaches_with(live, 100, counting(999)));
        }
        assert_eq!(scans.get(), 4, "one first scan for the calm estimate");
    }
}
