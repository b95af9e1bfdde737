//! The run's record: everything an incident leaves for its report, as plain
//! data. What ran where ([`TopologyEntry`]), the fault plan as executed
//! ([`FaultRecord`]), checks, figures, notes, series and the history,
//! and who the run is ([`RunIdentity`]).
//!
//! The lab owns one [`RunRecord`] and fills it while the run goes on;
//! the report is built from it. It knows nothing of Docker, faults or
//! checkers, so everything above can depend on it and it on none of them.

use crate::history::History;
use crate::spec::IncidentSpec;
use crate::verdict::Check;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// What ran where: one entry per node, for the report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TopologyEntry {
    /// The node's lab-local name.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Its role label.
    pub role: String,
}

/// One fault in the report and the replay plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultRecord {
    /// The fault's kind.
    pub kind: String,
    /// What was done to whom.
    pub description: String,
    /// When `inject` was called.
    #[serde(with = "crate::duration::serde_secs")]
    pub invoked_at: Duration,
    /// When the effect was verified in force.
    #[serde(with = "crate::duration::serde_opt_secs", default)]
    pub injected_at: Option<Duration>,
    /// When it was healed.
    #[serde(with = "crate::duration::serde_opt_secs", default)]
    pub healed_at: Option<Duration>,
    /// The phase it was injected in.
    #[serde(default)]
    pub phase: Option<String>,
    /// Why inject or heal failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who a run is: fixed when its lab is created.
#[derive(Clone, Debug)]
pub struct RunIdentity {
    /// The incident's static description.
    pub spec: IncidentSpec,
    /// The seed of this run.
    pub seed: u64,
    /// The run id (in labels and container names).
    pub run_id: String,
    /// Wall-clock time the run started.
    pub started_at: SystemTime,
}

impl RunIdentity {
    /// The run `run_id` of `spec` with `seed`, starting now.
    pub fn new(spec: IncidentSpec, seed: u64, run_id: impl Into<String>) -> RunIdentity {
        RunIdentity {
            spec,
            seed,
            run_id: run_id.into(),
            started_at: SystemTime::now(),
        }
    }

    /// Start time as Unix seconds (0 if the clock is before 1970).
    pub fn started_at_unix(&self) -> f64 {
        self.started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// What a run left so far, for its report.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    /// What ran where, in start order (a restarted name replaces its entry).
    pub topology: Vec<TopologyEntry>,
    /// Every fault injected, in order.
    pub faults: Vec<FaultRecord>,
    /// Every check recorded, in order.
    pub checks: Vec<Check>,
    /// Measured figures by name (the last value wins).
    pub figures: BTreeMap<String, f64>,
    /// Things a reader must know.
    pub notes: Vec<String>,
    /// Time series: name → (seconds since start, value).
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    /// The histories attached to the report, merged.
    pub history: History,
    /// The mitigations the scenario asked about (`lab.mitigated`): one
    /// the dossier names but no scenario asks about changes nothing, and
    /// an ablation must not call it redundant.
    pub mitigations_asked: std::collections::BTreeSet<String>,
}

impl RunRecord {
    /// Records that `entry.name` runs now (replacing an earlier entry of
    /// that name).
    pub fn place(&mut self, entry: TopologyEntry) {
        self.topology.retain(|t| t.name != entry.name);
        self.topology.push(entry);
    }

    /// Appends a point to a named series.
    pub fn sample(&mut self, series: impl Into<String>, at_secs: f64, value: f64) {
        self.series
            .entry(series.into())
            .or_default()
            .push((at_secs, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_node_keeps_one_topology_entry() {
        let mut r = RunRecord::default();
        let entry = |image: &str| TopologyEntry {
            name: "n1".into(),
            image: image.into(),
            role: "node".into(),
        };
        r.place(entry("a"));
        r.place(entry("b"));
        assert_eq!(r.topology, vec![entry("b")]);
        r.sample("mem", 1.0, 2.0);
        r.sample("mem", 2.0, 3.0);
        assert_eq!(r.series["mem"], vec![(1.0, 2.0), (2.0, 3.0)]);
    }
}
