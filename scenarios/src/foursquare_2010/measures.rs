//! The pure measures of foursquare_2010, functions of a history: a
//! shard's read p99, whether the cliff holds, when latency recovered, and
//! whether the core service (the hot shard's check-ins) was kept.

use super::{CHECKIN, READ};
use fixtures::mongo::shed::READ_SHED;
use harness::checker::availability::Downtime;
use harness::checker::latency;
use harness::history::{History, Op, OpStatus};
use std::time::Duration;

/// Fewer reads than this in a window on a side tell nothing about its
/// latency.
pub const MIN_READS: u64 = 5;

/// The 99th percentile (ms) of acknowledged reads of `shard` invoked in
/// `[from, to)`, and how many there were (shed reads are not reads served).
pub fn read_p99(history: &History, shard: &str, from: Duration, to: Duration) -> (f64, u64) {
    let s = latency::summarize(
        shard,
        history.ops.iter().filter(|o| {
            o.f == READ
                && o.status == OpStatus::Ok
                && o.key.as_deref() == Some(shard)
                && o.invoke >= from
                && o.invoke < to
        }),
    );
    (s.p99_ms, s.count)
}

/// Whether the cliff holds after one reading of the last window's p99 (ms)
/// and read count, hot and cold: it starts when the hot shard's p99 passes
/// `ratio` times the other's, and ends only when the hot p99 is back at or
/// under `restore_ms` (the restore threshold, lower than the cliff, so
/// shedding does not flap as soon as it helps). A side with fewer than
/// [`MIN_READS`] reads leaves the state as it was.
pub fn cliff_holds(
    holding: bool,
    hot: (f64, u64),
    cold: (f64, u64),
    ratio: f64,
    restore_ms: f64,
) -> bool {
    let (hot_p99, hot_n) = hot;
    let (cold_p99, cold_n) = cold;
    if holding {
        !(hot_n >= MIN_READS && hot_p99 <= restore_ms)
    } else {
        hot_n >= MIN_READS && cold_n >= MIN_READS && hot_p99 >= ratio * cold_p99.max(0.001)
    }
}

/// The first window of `window` starting at or after `from` (at an
/// acknowledged read of `shard`) whose reads of `shard` all succeeded, are
/// at least `min_ops`, and have a p99 at most `threshold_ms`; judged only
/// where the history covers the whole window. Returns its start. A shed
/// read ([`READ_SHED`]) in the window spoils it like a failed one: a shard
/// fast only because part of its load is turned away is not restored.
/// Candidate starts are at least `window / 20` apart, so a poll over a long
/// history stays cheap (two pointers over the reads, sorted by invocation).
pub fn latency_recovered_at(
    history: &History,
    shard: &str,
    from: Duration,
    window: Duration,
    threshold_ms: f64,
    min_ops: u64,
) -> Option<Duration> {
    let reads: Vec<&Op> = history
        .ops
        .iter()
        .filter(|o| {
            (o.f == READ || o.f == READ_SHED) && o.key.as_deref() == Some(shard) && o.invoke >= from
        })
        .collect();
    let end = history.ops.iter().map(|o| o.complete).max()?;
    let step = window / 20;
    let mut last: Option<Duration> = None;
    let mut j = 0;
    for i in 0..reads.len() {
        let t = reads[i].invoke;
        if reads[i].status != OpStatus::Ok || last.is_some_and(|l| t < l + step) {
            continue;
        }
        if t + window > end {
            return None;
        }
        last = Some(t);
        j = j.max(i);
        while j < reads.len() && reads[j].invoke < t + window {
            j += 1;
        }
        let in_window = &reads[i..j];
        // A failed or shed read in the window is not a fast one.
        if in_window.iter().any(|o| o.status != OpStatus::Ok) {
            continue;
        }
        let s = latency::summarize(shard, in_window.iter().copied());
        if s.count >= min_ops && s.p99_ms <= threshold_ms {
            return Some(t);
        }
    }
    None
}

/// The core service over a span: the check-ins of one shard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreService {
    /// Check-ins invoked in the span.
    pub total: u64,
    /// Of them, acknowledged.
    pub acknowledged: u64,
    /// Time without service: windows (from the first check-in of the span)
    /// with under the required share acknowledged, or with none invoked.
    pub down: Duration,
}

impl CoreService {
    /// Kept: check-ins were recorded and no window was down.
    pub fn kept(&self) -> bool {
        self.total > 0 && self.down.is_zero()
    }
}

/// The check-ins ([`CHECKIN`]) of `shard` invoked in `[from, to)`, judged in
/// windows of `window`: a window is down with under `ratio` of its
/// check-ins acknowledged, or none invoked (harness `Downtime`).
pub fn core_service(
    history: &History,
    shard: &str,
    from: Duration,
    to: Duration,
    window: Duration,
    ratio: f64,
) -> CoreService {
    let checkins: Vec<Op> = history
        .ops
        .iter()
        .filter(|o| {
            o.f == CHECKIN && o.key.as_deref() == Some(shard) && o.invoke >= from && o.invoke < to
        })
        .cloned()
        .collect();
    let acknowledged = checkins.iter().filter(|o| o.status == OpStatus::Ok).count() as u64;
    let total = checkins.len() as u64;
    let down = Downtime::buckets(window)
        .below(ratio)
        .measure(&History::new(checkins));
    CoreService {
        total,
        acknowledged,
        down,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{per_shard_latency, COLD, HOT};
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn read(shard: &str, at: u64, took: u64) -> Op {
        Op::ok(READ).with_key(shard).at(ms(at), ms(at + took))
    }

    #[test]
    fn p99_per_shard_and_window() {
        let mut ops = Vec::new();
        for i in 0..100 {
            ops.push(read(HOT, i * 10, 50));
            ops.push(read(COLD, i * 10, 2));
        }
        let h = History::new(ops);
        let (hot, n) = read_p99(&h, HOT, ms(0), ms(1000));
        let (cold, _) = read_p99(&h, COLD, ms(0), ms(1000));
        assert_eq!(n, 100);
        assert!(hot / cold > 10.0, "{hot} {cold}");
        assert_eq!(read_p99(&h, HOT, ms(2000), ms(3000)).1, 0);
    }

    #[test]
    fn latency_recovery_needs_a_whole_fast_window() {
        // Slow (200 ms) until 5 s, fast (5 ms) after, to 20 s.
        let mut ops = Vec::new();
        for i in 0..200u64 {
            let at = i * 100;
            ops.push(read(HOT, at, if at < 5000 { 200 } else { 5 }));
        }
        let h = History::new(ops);
        let t = latency_recovered_at(&h, HOT, ms(1000), Duration::from_secs(3), 20.0, 5).unwrap();
        assert!(t >= ms(5000) && t <= ms(5150), "{t:?}");
        assert!(
            latency_recovered_at(&h, HOT, ms(0), Duration::from_secs(3), 1.0, 5).is_none(),
            "never under 1 ms"
        );
        assert!(
            latency_recovered_at(&h, COLD, ms(0), Duration::from_secs(3), 100.0, 5).is_none(),
            "no reads of that shard"
        );
        // A failure inside the window spoils it.
        let mut ops = h.ops.clone();
        ops.push(
            Op::fail(READ, "timeout")
                .with_key(HOT)
                .at(ms(6000), ms(6001)),
        );
        let t = latency_recovered_at(
            &History::new(ops),
            HOT,
            ms(1000),
            Duration::from_secs(3),
            20.0,
            5,
        )
        .unwrap();
        assert!(t > ms(6000), "{t:?}");
    }

    #[test]
    fn the_cliff_holds_from_the_ratio_until_the_restore_threshold() {
        let (ratio, restore) = (5.0, 15.0);
        // Enters at 5x the other shard, not below.
        assert!(!cliff_holds(
            false,
            (40.0, 100),
            (10.0, 100),
            ratio,
            restore
        ));
        assert!(cliff_holds(false, (50.0, 100), (10.0, 100), ratio, restore));
        // Holds while between the restore threshold and the ratio...
        assert!(cliff_holds(true, (30.0, 100), (10.0, 100), ratio, restore));
        // ...and ends at the restore threshold.
        assert!(!cliff_holds(true, (15.0, 100), (10.0, 100), ratio, restore));
        // Too few reads on a side change nothing.
        assert!(!cliff_holds(false, (500.0, 4), (10.0, 100), ratio, restore));
        assert!(!cliff_holds(false, (500.0, 100), (10.0, 4), ratio, restore));
        assert!(cliff_holds(true, (1.0, 4), (10.0, 100), ratio, restore));
        // A cold side without latency (0 ms) still needs a hot one.
        assert!(cliff_holds(false, (1.0, 100), (0.0, 100), ratio, restore));
    }

    #[test]
    fn shed_reads_are_not_served_reads() {
        let mut ops: Vec<Op> = (0..50).map(|i| read(HOT, i * 10, 100)).collect();
        ops.extend((0..50).map(|i| shed(HOT, i * 10 + 5)));
        let h = History::new(ops);
        let (p99, n) = read_p99(&h, HOT, ms(0), ms(1000));
        assert_eq!(n, 50, "only the reads sent");
        assert!(p99 >= 99.0, "{p99}");
        assert!(per_shard_latency(&h).keys().all(|k| k.starts_with(HOT)));
    }

    fn shed(shard: &str, at: u64) -> Op {
        Op::fail(READ_SHED, "shed")
            .with_key(shard)
            .at(ms(at), ms(at))
    }

    #[test]
    fn a_window_with_shed_reads_is_not_a_recovery() {
        // Fast (5 ms) from 0 to 20 s, but reads shed until 8 s.
        let mut ops = Vec::new();
        for i in 0..200u64 {
            let at = i * 100;
            ops.push(read(HOT, at, 5));
            if at < 8000 {
                ops.push(shed(HOT, at + 50));
            }
        }
        let h = History::new(ops);
        let t = latency_recovered_at(&h, HOT, ms(0), Duration::from_secs(3), 20.0, 5).unwrap();
        assert!(t >= ms(8000) && t <= ms(8200), "{t:?}");
        // Shed reads of another shard do not spoil this one's windows.
        let mut other: Vec<Op> = (0..200u64).map(|i| read(HOT, i * 100, 5)).collect();
        other.extend((0..80u64).map(|i| shed(COLD, i * 100 + 50)));
        let t = latency_recovered_at(
            &History::new(other),
            HOT,
            ms(0),
            Duration::from_secs(3),
            20.0,
            5,
        )
        .unwrap();
        assert_eq!(t, ms(0));
    }

    fn checkin(shard: &str, at: u64, ok: bool) -> Op {
        let op = if ok {
            Op::ok(CHECKIN)
        } else {
            Op::unknown(CHECKIN, "client timeout")
        };
        op.with_key(shard).at(ms(at), ms(at + 5))
    }

    #[test]
    fn the_core_service_is_the_hot_shards_checkins_in_every_window() {
        let w = Duration::from_secs(1);
        // 10 check-ins a second for 20 s, all acknowledged.
        let fine: Vec<Op> = (0..200u64).map(|i| checkin(HOT, i * 100, true)).collect();
        let c = core_service(&History::new(fine.clone()), HOT, ms(0), ms(20_000), w, 0.9);
        assert_eq!((c.total, c.acknowledged), (200, 200));
        assert!(c.kept(), "{c:?}");
        // 3 s of timeouts on the hot shard: down 3 s, not kept.
        let outage: Vec<Op> = (0..200u64)
            .map(|i| checkin(HOT, i * 100, !(5000..8000).contains(&(i * 100))))
            .collect();
        let c = core_service(
            &History::new(outage.clone()),
            HOT,
            ms(0),
            ms(20_000),
            w,
            0.9,
        );
        assert_eq!(c.down, Duration::from_secs(3));
        assert!(!c.kept());
        // Outside the span judged, or on another shard, it does not count.
        let c = core_service(&History::new(outage), HOT, ms(8000), ms(20_000), w, 0.9);
        assert!(c.kept(), "{c:?}");
        let mut cold: Vec<Op> = fine;
        cold.extend((0..30u64).map(|i| checkin(COLD, 5000 + i * 100, false)));
        assert!(core_service(&History::new(cold), HOT, ms(0), ms(20_000), w, 0.9).kept());
        // Reads are not check-ins; none recorded is not a kept service.
        let reads = History::new((0..50).map(|i| read(HOT, i * 10, 1)).collect());
        assert!(!core_service(&reads, HOT, ms(0), ms(1000), w, 0.9).kept());
    }
}
