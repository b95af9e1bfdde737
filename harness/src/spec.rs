//! What an `#[incident]` declares about itself: the postmortem it
//! reproduces, its variant, its budget and limits, and what it requires.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which side of the postmortem an incident runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The system as it was on the day: must reproduce the outage's signature.
    Before,
    /// With the postmortem's fixes: must recover within budget, nothing lost.
    After,
}

impl Variant {
    /// `"before"` or `"after"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Before => "before",
            Variant::After => "after",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use incident_vocab::Requirement;

/// The static description of one incident, produced by `#[incident]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IncidentSpec {
    /// The test function's name, e.g. `chat_partitioned_node_before`.
    pub name: String,
    /// The module path of the test, for grouping.
    pub module: String,
    /// The postmortem dossier id, e.g. `leancloud-2015-08-chat`.
    pub postmortem: String,
    /// Before or after the postmortem's fixes.
    pub variant: Variant,
    /// The recovery budget.
    #[serde(with = "crate::duration::serde_secs")]
    pub budget: Duration,
    /// The hard limit for the whole incident, teardown excluded.
    #[serde(with = "crate::duration::serde_secs")]
    pub timeout: Duration,
    /// A fixed seed, or `None` for a random one (always printed and recorded).
    pub seed: Option<u64>,
    /// Free-form tags (`heavy`, `consul`, ...), used for filtering and grouping.
    pub tags: Vec<String>,
    /// Systems without which the incident skips.
    pub requires: Vec<Requirement>,
}

impl IncidentSpec {
    /// A spec with defaults (budget 90 s, timeout 6 min, requires Docker),
    /// for incidents built by hand rather than through the attribute.
    pub fn new(name: &str, postmortem: &str, variant: Variant) -> Self {
        IncidentSpec {
            name: name.into(),
            module: String::new(),
            postmortem: postmortem.into(),
            variant,
            budget: Duration::from_secs(90),
            timeout: Duration::from_secs(360),
            seed: None,
            tags: Vec::new(),
            requires: vec![Requirement::Docker],
        }
    }
}
