//! Checkers: pure functions from histories (and final state) to verdicts.
//!
//! - [`integrity`]: sets, registers, queues and deliveries: acknowledged
//!   writes lost, values never written, duplicates, stale reads;
//! - [`availability`]: time to detect, time without service, recovery time
//!   against a budget;
//! - [`latency`]: percentiles per phase.
//!
//! Verdicts merge like Jepsen's `:valid?`: false beats unknown beats true.

pub mod availability;
pub mod integrity;
pub mod latency;
pub mod linearizable;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A checker's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The property holds.
    Valid,
    /// It could not be decided (e.g. too many unknown operations).
    Unknown,
    /// The property is violated.
    Invalid,
}

impl Verdict {
    /// Jepsen's merge: invalid beats unknown beats valid.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// Merges many; an empty list is valid.
    pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Valid, Verdict::merge)
    }

    /// `Valid` if `ok`, else `Invalid`.
    pub fn from_bool(ok: bool) -> Verdict {
        if ok {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }

    /// Whether it is `Valid`.
    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

/// What a check speaks to: judged differently per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A property that must hold in an *after* variant (integrity, recovery
    /// within budget). In a *before* variant it is reported, not required.
    Requirement,
    /// The outage's signature: must be reproduced (valid) in a *before*
    /// variant; reported, not required, in an *after* one.
    Signature,
    /// Must hold in both variants (e.g. no value invented).
    Always,
}

/// One checker's result, as it appears in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// A stable name, e.g. `integrity.set`, `availability.recovery`.
    pub name: String,
    /// How it counts towards the incident's verdict.
    pub kind: CheckKind,
    /// The verdict.
    pub verdict: Verdict,
    /// Counts that are stable across runs (anomalies: lost, phantom,
    /// duplicated...); they go into the snapshot.
    pub counts: BTreeMap<String, u64>,
    /// Measured, run-dependent figures (totals, times): report only.
    pub figures: BTreeMap<String, f64>,
    /// One line a person reads.
    pub detail: String,
    /// A few examples of anomalies, for debugging (report only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl Check {
    /// A check with no counts or figures.
    pub fn new(
        name: impl Into<String>,
        kind: CheckKind,
        verdict: Verdict,
        detail: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            kind,
            verdict,
            counts: BTreeMap::new(),
            figures: BTreeMap::new(),
            detail: detail.into(),
            examples: Vec::new(),
        }
    }

    /// A signature check: `reproduced` says whether the outage's signature showed.
    pub fn signature(name: impl Into<String>, reproduced: bool, detail: impl Into<String>) -> Self {
        Check::new(
            name,
            CheckKind::Signature,
            Verdict::from_bool(reproduced),
            detail,
        )
    }

    /// A requirement check.
    pub fn requirement(name: impl Into<String>, holds: bool, detail: impl Into<String>) -> Self {
        Check::new(
            name,
            CheckKind::Requirement,
            Verdict::from_bool(holds),
            detail,
        )
    }

    /// Adds a stable count.
    pub fn with_count(mut self, key: impl Into<String>, n: u64) -> Self {
        self.counts.insert(key.into(), n);
        self
    }

    /// Adds a run-dependent figure.
    pub fn with_figure(mut self, key: impl Into<String>, v: f64) -> Self {
        self.figures.insert(key.into(), v);
        self
    }

    /// Sets the kind.
    pub fn with_kind(mut self, kind: CheckKind) -> Self {
        self.kind = kind;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_merge_like_jepsen() {
        use Verdict::*;
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Valid.merge(Invalid), Invalid);
        assert_eq!(Verdict::all([Valid, Valid]), Valid);
        assert_eq!(Verdict::all([]), Valid);
        assert_eq!(Verdict::all([Valid, Unknown, Valid]), Unknown);
    }
}
