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
/// node near 300 connects/s at 5,000 sessions). The estimate re-scans at
/// most every `every` and in between adds the change of a live count the
/// caller keeps (its open connections).
#[derive(Debug)]
pub struct FdEstimate {
    every: std::time::Duration,
    last: std::sync::Mutex<Option<(std::time::Instant, u64, u64)>>,
}

impl FdEstimate {
    /// Re-scans at most every `every`.
    pub fn new(every: std::time::Duration) -> Self {
        FdEstimate {
            every,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The estimate, given the caller's live count now.
    pub fn get(&self, live: u64) -> u64 {
        self.get_with(live, open_fds)
    }

    fn get_with(&self, live: u64, scan: impl FnOnce() -> u64) -> u64 {
        let mut last = self.last.lock().unwrap();
        match *last {
            Some((at, fds, live_then)) if at.elapsed() < self.every => {
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
    fn fd_estimate_scans_rarely_and_follows_the_live_count() {
        let e = FdEstimate::new(std::time::Duration::from_secs(3600));
        let scans = std::cell::Cell::new(0);
        let scan = |v: u64| {
            scans.set(scans.get() + 1);
            v
        };
        assert_eq!(e.get_with(10, || scan(50)), 50);
        assert_eq!(e.get_with(15, || scan(999)), 55, "5 more connections");
        assert_eq!(e.get_with(2, || scan(999)), 42, "13 fewer");
        assert_eq!(scans.get(), 1, "one scan within the interval");
        let fresh = FdEstimate::new(std::time::Duration::ZERO);
        assert_eq!(fresh.get_with(1, || scan(7)), 7);
        assert_eq!(fresh.get_with(1, || scan(8)), 8, "stale: re-scanned");
        assert!(FdEstimate::new(std::time::Duration::ZERO).get(0) >= 3);
    }
}
