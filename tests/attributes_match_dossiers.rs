//! Budget and requirements are written twice: in the dossier
//! (`postmortems/<id>.toml`) and in each `#[incident]` attribute of the
//! suite. This test reads both (no Docker) and fails where they disagree,
//! except where a difference is stated below with its reason.

use harness::duration;
use harness::postmortem::Dossier;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Incidents that differ from their dossier on purpose: (test, field, why).
const STATED_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "foursquare_2010_compact_then_failover_after",
    "budget",
    "a second, slower mitigation (offline compaction secondary by secondary) with its own budget",
)];

/// One `#[incident(...)]` as written (read by `harness::catalog`, as
/// `incident list` reads it).
#[derive(Debug)]
struct Attribute {
    test: String,
    file: PathBuf,
    postmortem: String,
    budget: String,
    variant: harness::spec::Variant,
    requires: BTreeSet<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn attributes() -> Vec<Attribute> {
    harness::catalog::read(&root())
        .unwrap()
        .into_iter()
        .map(|e| Attribute {
            test: e.name,
            file: e.file,
            postmortem: e.postmortem,
            budget: e.budget,
            variant: e.variant,
            requires: e.requires.into_iter().collect(),
        })
        .collect()
}

fn stated(test: &str, field: &str) -> bool {
    STATED_DIFFERENCES
        .iter()
        .any(|(t, f, _)| *t == test && *f == field)
}

#[test]
fn every_incident_agrees_with_its_dossier() {
    let attributes = attributes();
    assert!(attributes.len() >= 10, "found only {attributes:?}");
    let mut differences = Vec::new();
    let mut compared = 0;
    for a in &attributes {
        let path = root()
            .join("postmortems")
            .join(format!("{}.toml", a.postmortem));
        if !path.exists() {
            continue; // the harness's own incidents (smoke, faults) have no dossier
        }
        compared += 1;
        let dossier = Dossier::load(&path).unwrap();
        let where_ = format!("{} ({})", a.test, a.file.display());
        let budget = duration::parse(&a.budget).unwrap();
        if budget != dossier.budget_duration() && !stated(&a.test, "budget") {
            differences.push(format!(
                "{where_}: budget = \"{}\", the dossier's is \"{}\"",
                a.budget, dossier.budget
            ));
        }
        // Per variant: a dossier's `requires_before` is its before variant's.
        let written: BTreeSet<String> = dossier.requires_for(a.variant).iter().cloned().collect();
        if a.requires != written && !stated(&a.test, "requires") {
            differences.push(format!(
                "{where_}: requires = {:?}, the dossier's for the {} variant are {:?}",
                a.requires, a.variant, written
            ));
        }
    }
    assert!(compared >= 8, "compared only {compared} incidents");
    assert!(
        differences.is_empty(),
        "the attribute and the dossier disagree (fix one, or state the difference in STATED_DIFFERENCES):\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn every_stated_difference_is_still_a_difference() {
    let attributes = attributes();
    for (test, field, why) in STATED_DIFFERENCES {
        let a = attributes
            .iter()
            .find(|a| a.test == *test)
            .unwrap_or_else(|| panic!("no incident `{test}` (stated: {why})"));
        let dossier = Dossier::load(
            &root()
                .join("postmortems")
                .join(format!("{}.toml", a.postmortem)),
        )
        .unwrap();
        let differs = match *field {
            "budget" => duration::parse(&a.budget).unwrap() != dossier.budget_duration(),
            "requires" => a.requires != dossier.requires_for(a.variant).iter().cloned().collect(),
            other => panic!("unknown field {other}"),
        };
        assert!(
            differs,
            "{test}: its {field} now agrees with the dossier; remove it from STATED_DIFFERENCES"
        );
    }
}
