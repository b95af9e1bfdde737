//! Latency percentiles per phase (HdrHistogram).

use crate::history::{History, Op, OpStatus};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of one group of operations, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// The group (a phase, or `all`).
    pub phase: String,
    /// Operations counted.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// Summarises latencies (microsecond precision, up to one hour).
pub fn summarize<'a>(phase: &str, ops: impl IntoIterator<Item = &'a Op>) -> LatencySummary {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    for op in ops {
        let us = op.latency().as_micros().clamp(1, 3_600_000_000) as u64;
        let _ = h.record(us);
    }
    let ms = |v: u64| v as f64 / 1000.0;
    LatencySummary {
        phase: phase.to_string(),
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

/// Percentiles of the *acknowledged* operations matching `filter`, per
/// phase in order of first appearance, then `all`.
pub fn per_phase(history: &History, filter: impl Fn(&Op) -> bool) -> Vec<LatencySummary> {
    let selected: Vec<&Op> = history
        .ops
        .iter()
        .filter(|o| o.status == OpStatus::Ok && filter(o))
        .collect();
    let mut phases: Vec<String> = Vec::new();
    for o in &selected {
        let p = o.phase.clone().unwrap_or_else(|| "none".into());
        if !phases.contains(&p) {
            phases.push(p);
        }
    }
    let mut out: Vec<LatencySummary> = phases
        .iter()
        .map(|p| {
            summarize(
                p,
                selected
                    .iter()
                    .copied()
                    .filter(|o| o.phase.as_deref().unwrap_or("none") == p),
            )
        })
        .collect();
    out.push(summarize("all", selected.iter().copied()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn percentiles_per_phase() {
        let mut ops = Vec::new();
        for i in 1..=100u64 {
            let mut op = Op::ok("write").at(Duration::ZERO, Duration::from_millis(i));
            op.phase = Some(if i <= 50 { "steady" } else { "fault" }.into());
            ops.push(op);
        }
        ops.push(Op::fail("write", "x").at(Duration::ZERO, Duration::from_secs(100)));
        let s = per_phase(&History::new(ops), |_| true);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].phase, "steady");
        assert_eq!(s[0].count, 50);
        assert!((s[0].p50_ms - 25.0).abs() < 0.5, "{}", s[0].p50_ms);
        assert!((s[1].max_ms - 100.0).abs() < 0.5);
        assert_eq!(s[2].count, 100, "failed ops are not counted");
        assert!((s[2].p99_ms - 99.0).abs() < 0.5);
    }
}
