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

    /// The variant's own set out of the dossier's `named` mitigations:
    /// none before, all after.
    pub fn mitigations(self, named: &[String]) -> crate::mitigations::Mitigations {
        match self {
            Variant::Before => crate::mitigations::Mitigations::none(named),
            Variant::After => crate::mitigations::Mitigations::all(named),
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
    /// The test binary as nextest names it (its *binary id*):
    /// `incident-suite::incidents` for an integration test, the package
    /// name for a library's unit tests, `<package>::bin/<name>` for a
    /// binary's (see [`binary_id`]). Empty for specs built by hand.
    #[serde(default)]
    pub binary: String,
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
    /// Check names or dotted prefixes (`integrity` covers `integrity.kv`)
    /// whose requirement checks must hold in *both* variants
    /// (`#[incident(always = [integrity])]`): by default a requirement
    /// counts only in an after variant (see `Check::kind_under` in the
    /// verdict module, which the lab applies to every check it records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub always: Vec<String>,
    /// The mitigations in force, by the dossier's names: empty as the
    /// attribute writes it; the runner fills it with the variant's set
    /// (none before, every named one after) or the one
    /// `INCIDENT_MITIGATIONS` names (see [`crate::mitigations`]).
    #[serde(default)]
    pub mitigations: crate::mitigations::Mitigations,
    /// Images whose override (`INCIDENT_IMAGE_*`) names another release
    /// than the variant's own, e.g. `consul-legacy at 1.22.6 (its own:
    /// 1.10.12)`: what `incident bisect` runs. The runner fills it; such a
    /// run is judged by its checks, its snapshot is not asserted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_releases: Vec<String>,
}

impl IncidentSpec {
    /// A spec with defaults (budget 90 s, timeout 6 min, requires Docker),
    /// for incidents built by hand rather than through the attribute.
    pub fn new(name: &str, postmortem: &str, variant: Variant) -> Self {
        IncidentSpec {
            name: name.into(),
            module: String::new(),
            binary: String::new(),
            postmortem: postmortem.into(),
            variant,
            budget: Duration::from_secs(90),
            timeout: Duration::from_secs(360),
            seed: None,
            tags: Vec::new(),
            requires: vec![Requirement::Docker],
            always: Vec::new(),
            mitigations: Default::default(),
            other_releases: Vec::new(),
        }
    }

    /// The test's path inside its binary, as libtest and nextest name it:
    /// the module path without the crate, then the function name
    /// (`incidents::chat::weibo_2017_after` for `weibo_2017_after` in
    /// module `incidents::incidents::chat` of the `incidents` test crate).
    pub fn test_path(&self) -> String {
        let module = self
            .module
            .split_once("::")
            .map(|(_, rest)| rest)
            .unwrap_or("");
        if module.is_empty() {
            self.name.clone()
        } else {
            format!("{module}::{}", self.name)
        }
    }
}

/// nextest's binary id of the crate being compiled, from what cargo tells
/// the compiler: `<package>::<crate>` for an integration test (cargo sets
/// `CARGO_TARGET_TMPDIR` only there), `<package>::bin/<name>` for a binary,
/// the package alone for a library. `#[incident]` passes its crate's
/// values; nextest uses the target's name, which differs from the crate
/// name (given here) only when the target's name has a `-`.
pub fn binary_id(
    package: Option<&str>,
    krate: Option<&str>,
    integration_test: bool,
    bin: Option<&str>,
) -> String {
    let package = package.unwrap_or_default();
    match (bin, krate) {
        (Some(bin), _) => format!("{package}::bin/{bin}"),
        (None, Some(krate)) if integration_test => format!("{package}::{krate}"),
        _ => package.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_path_is_the_module_path_without_the_crate() {
        let mut spec = IncidentSpec::new("weibo_2017_after", "weibo-2017-hot-key", Variant::After);
        spec.module = "incidents::incidents::chat".into();
        assert_eq!(spec.test_path(), "incidents::chat::weibo_2017_after");
        spec.module = "lab_smoke".into();
        assert_eq!(
            spec.test_path(),
            "weibo_2017_after",
            "a test at the crate root"
        );
        spec.module = String::new();
        assert_eq!(spec.test_path(), "weibo_2017_after");
    }

    #[test]
    fn binary_ids_are_nextests() {
        let pkg = Some("incident-suite");
        assert_eq!(
            binary_id(pkg, Some("incidents"), true, None),
            "incident-suite::incidents"
        );
        assert_eq!(
            binary_id(Some("harness"), Some("harness"), false, None),
            "harness"
        );
        assert_eq!(
            binary_id(Some("harness"), Some("incident"), false, Some("incident")),
            "harness::bin/incident"
        );
        assert_eq!(binary_id(None, None, false, None), "");
    }

    #[test]
    fn specs_without_a_binary_still_read() {
        let mut json = serde_json::to_value(IncidentSpec::new("a", "p", Variant::After)).unwrap();
        json.as_object_mut().unwrap().remove("binary");
        let spec: IncidentSpec = serde_json::from_value(json).unwrap();
        assert_eq!(spec.binary, "");
    }
}
