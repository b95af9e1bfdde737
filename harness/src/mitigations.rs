//! The mitigations in force in one run, by the names the dossier gives
//! them (`[[mitigations]] name = "bounded_backlog"`).
//!
//! A variant is a set of mitigations: *before* is the empty set, *after*
//! every mitigation the dossier marks `after = true`. Any other subset runs
//! with `INCIDENT_MITIGATIONS` (what `incident ablate` sets): the variant's
//! checks still judge it, and its snapshot, which belongs to the variant's
//! own set, is not asserted. A scenario asks [`Mitigations::has`] (through
//! `LabCtx::mitigated`) at each place a fix changes what runs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The environment variable that runs another set than the variant's.
pub const ENV: &str = "INCIDENT_MITIGATIONS";

/// The mitigations a run has, out of those its dossier names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mitigations {
    /// The names in force.
    pub in_force: BTreeSet<String>,
    /// Every name the dossier gives an `after = true` mitigation, in the
    /// dossier's order.
    pub named: Vec<String>,
    /// Whether the set differs from the variant's own (an ablation run).
    #[serde(default)]
    pub ablated: bool,
}

impl Mitigations {
    /// Every named mitigation in force: the *after* variant's set.
    pub fn all(named: &[String]) -> Mitigations {
        Mitigations {
            in_force: named.iter().cloned().collect(),
            named: named.to_vec(),
            ablated: false,
        }
    }

    /// None in force: the *before* variant's set.
    pub fn none(named: &[String]) -> Mitigations {
        Mitigations {
            in_force: BTreeSet::new(),
            named: named.to_vec(),
            ablated: false,
        }
    }

    /// The set a run has: `own` (the variant's), unless `value` (of
    /// [`ENV`]) names another. `value` is `all`, `none`, a comma list of
    /// names (`bounded_backlog,client_backoff`) or every one but those
    /// (`-client_backoff`). An unknown name is an error naming the known
    /// ones.
    pub fn resolve(own: Mitigations, value: Option<&str>) -> Result<Mitigations, String> {
        let named = &own.named;
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(own);
        };
        let known = |n: &str| -> Result<String, String> {
            if named.iter().any(|k| k == n) {
                Ok(n.to_string())
            } else if named.is_empty() {
                Err(format!(
                    "{ENV}={value}: this incident's dossier names no mitigation; give its [[mitigations]] a `name`"
                ))
            } else {
                Err(format!(
                    "{ENV}={value}: unknown mitigation `{n}` (the dossier names: {})",
                    named.join(", ")
                ))
            }
        };
        let in_force: BTreeSet<String> = match value {
            "all" => named.iter().cloned().collect(),
            "none" => BTreeSet::new(),
            v if v.starts_with('-') => {
                let out: BTreeSet<String> = v
                    .split(',')
                    .map(|n| known(n.trim().trim_start_matches('-')))
                    .collect::<Result<_, _>>()?;
                named
                    .iter()
                    .filter(|n| !out.contains(*n))
                    .cloned()
                    .collect()
            }
            v => v
                .split(',')
                .map(|n| known(n.trim()))
                .collect::<Result<_, _>>()?,
        };
        let ablated = in_force != own.in_force;
        Ok(Mitigations {
            in_force,
            ablated,
            ..own
        })
    }

    /// Whether `name` is in force. A name the dossier does not give is a
    /// bug in the scenario (a typo would silently run the fix off), so it
    /// panics naming the dossier's names.
    pub fn has(&self, name: &str) -> bool {
        assert!(
            self.named.iter().any(|n| n == name),
            "mitigation `{name}` is not named in the incident's dossier (it names: {}); add `name = \"{name}\"` to its [[mitigations]] entry or fix the spelling",
            if self.named.is_empty() {
                "none".to_string()
            } else {
                self.named.join(", ")
            }
        );
        self.in_force.contains(name)
    }

    /// The named mitigations not in force, in the dossier's order.
    pub fn removed(&self) -> Vec<&str> {
        self.named
            .iter()
            .filter(|n| !self.in_force.contains(*n))
            .map(String::as_str)
            .collect()
    }

    /// The set in one short label: `all`, `none`, `all - a - b`, or the
    /// names joined by `+` when fewer than half are in force.
    pub fn label(&self) -> String {
        let removed = self.removed();
        if self.named.is_empty() {
            "(none named)".into()
        } else if removed.is_empty() {
            "all".into()
        } else if self.in_force.is_empty() {
            "none".into()
        } else if removed.len() * 2 <= self.named.len() {
            format!("all - {}", removed.join(" - "))
        } else {
            self.named
                .iter()
                .filter(|n| self.in_force.contains(*n))
                .cloned()
                .collect::<Vec<_>>()
                .join(" + ")
        }
    }
}

/// Checks one dossier name: lower snake case, as a scenario writes it.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mitigation name `{name}` must be lower snake case (like `bounded_backlog`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> Vec<String> {
        ["bounded_backlog", "evict_bad_peer", "client_backoff"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn a_variant_is_a_set() {
        let before = Mitigations::none(&named());
        assert!(before.in_force.is_empty());
        assert_eq!(before.label(), "none");
        let after = Mitigations::all(&named());
        assert_eq!(after.in_force.len(), 3);
        assert_eq!(after.label(), "all");
        assert!(after.has("client_backoff"));
        assert!(!before.has("client_backoff"));
    }

    #[test]
    fn the_environment_picks_another_set() {
        let m = Mitigations::resolve(Mitigations::all(&named()), Some("-client_backoff")).unwrap();
        assert!(m.ablated);
        assert!(!m.has("client_backoff"));
        assert!(m.has("bounded_backlog"));
        assert_eq!(m.label(), "all - client_backoff");
        assert_eq!(m.removed(), vec!["client_backoff"]);

        let m = Mitigations::resolve(Mitigations::all(&named()), Some("none")).unwrap();
        assert!(m.ablated && m.in_force.is_empty());
        let m = Mitigations::resolve(Mitigations::all(&named()), Some("all")).unwrap();
        assert!(!m.ablated, "the variant's own set is not an ablation");
        let m = Mitigations::resolve(Mitigations::none(&named()), Some("evict_bad_peer")).unwrap();
        assert!(m.ablated);
        assert_eq!(m.label(), "evict_bad_peer");
        let m = Mitigations::resolve(Mitigations::all(&named()), None).unwrap();
        assert!(!m.ablated);
        let m = Mitigations::resolve(Mitigations::all(&named()), Some(" ")).unwrap();
        assert!(!m.ablated, "an empty value is no override");
    }

    #[test]
    fn an_unknown_name_is_one_line_naming_the_known_ones() {
        let e = Mitigations::resolve(Mitigations::all(&named()), Some("-backof")).unwrap_err();
        assert!(e.contains("unknown mitigation `backof`"), "{e}");
        assert!(
            e.contains("bounded_backlog, evict_bad_peer, client_backoff"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = Mitigations::resolve(Mitigations::all(&[]), Some("x")).unwrap_err();
        assert!(e.contains("give its [[mitigations]] a `name`"), "{e}");
    }

    #[test]
    #[should_panic(expected = "mitigation `bounded_backlgo` is not named")]
    fn a_scenario_asking_for_an_unnamed_mitigation_panics() {
        Mitigations::all(&named()).has("bounded_backlgo");
    }

    #[test]
    fn names_are_snake_case() {
        assert!(check_name("bounded_backlog").is_ok());
        assert!(check_name("v2_fix").is_ok());
        for bad in ["Bounded", "2fix", "a-b", "", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
