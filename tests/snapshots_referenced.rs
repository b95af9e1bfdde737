//! What `cargo insta test --unreferenced=reject` (the README's test
//! command) checks over a run, checked here from the sources: every
//! snapshot in `tests/snapshots/` belongs to a test that still asserts it,
//! and every named snapshot a test asserts is committed. Unlike the run's
//! check, it also holds the snapshots of incidents that skip on this
//! machine (MongoDB). A stale snapshot would otherwise sit there looking
//! like a verdict someone reviewed.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// (module, snapshot name) of every committed `.snap` of the suite:
/// `incidents__incidents__<module>__<name>.snap`.
fn committed() -> BTreeSet<(String, String)> {
    std::fs::read_dir(root().join("tests/snapshots"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".snap")?;
            let rest = stem.strip_prefix("incidents__incidents__")?;
            let (module, snap) = rest.split_once("__")?;
            Some((module.to_string(), snap.to_string()))
        })
        .collect()
}

fn source(module: &str) -> Option<String> {
    std::fs::read_to_string(root().join(format!("tests/incidents/{module}.rs"))).ok()
}

/// Whether `module` asserts the snapshot `name`: by that name, or unnamed
/// inside the test function `name` (insta names those after the function).
fn asserts(module: &str, name: &str) -> bool {
    let Some(text) = source(module) else {
        return false;
    };
    if text.contains(&format!("assert_stable_snapshot!(\"{name}\"")) {
        return true;
    }
    let Some(at) = text.find(&format!("fn {name}(")) else {
        return false;
    };
    let body = &text[at..];
    let end = body.find("\n}\n").unwrap_or(body.len());
    body[..end].contains("assert_stable_snapshot!(report")
}

#[test]
fn every_committed_snapshot_is_still_asserted() {
    let snaps = committed();
    assert!(snaps.len() >= 7, "found only {snaps:?}");
    let stale: Vec<String> = snaps
        .iter()
        .filter(|(m, n)| !asserts(m, n))
        .map(|(m, n)| format!("tests/snapshots/incidents__incidents__{m}__{n}.snap"))
        .collect();
    assert!(
        stale.is_empty(),
        "snapshots no test asserts (delete them, or restore the test): {stale:?}"
    );
}

#[test]
fn every_named_snapshot_asserted_is_committed() {
    let snaps = committed();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("tests/incidents")).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("assert_stable_snapshot!(\"") {
            let rest = &text[i + "assert_stable_snapshot!(\"".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            if !snaps.contains(&(module.clone(), name.to_string())) {
                missing.push(format!("{module}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "asserted but not committed (run the test and review it with `cargo insta review`): {missing:?}"
    );
}

#[test]
fn a_stale_snapshot_is_seen() {
    // The check itself: a name no test has is not asserted.
    assert!(!asserts("chat", "weibo_2017_sideways"));
    assert!(asserts("chat", "weibo_2017_after"));
    assert!(asserts("roblox", "roblox_consul_before"));
}
