//! A mitigation is named twice: in its dossier (`[[mitigations]] name`)
//! and where a scenario asks for it (`lab.mitigated("..")`, listed in the
//! scenario's `MITIGATIONS`). This test reads both (no Docker) and fails
//! where they disagree: a fix the dossier promises that no scenario
//! switches would make `incident ablate` report a mitigation that changes
//! nothing, and a name only the scenario knows panics at run time.

use harness::postmortem::Dossier;
use std::path::{Path, PathBuf};

/// The scenarios written as sets of mitigations, with their dossiers.
fn scenarios() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "leancloud_2015_08",
            "leancloud-2015-08-chat",
            scenarios::leancloud_2015_08::MITIGATIONS.to_vec(),
        ),
        (
            "weibo_2017",
            "weibo-2017-hot-key",
            scenarios::weibo_2017::MITIGATIONS.to_vec(),
        ),
        (
            "roblox_2021",
            "roblox-2021-consul",
            scenarios::roblox_2021::MITIGATIONS.to_vec(),
        ),
        (
            "leancloud_2015_06",
            "leancloud-2015-06-mongodb",
            scenarios::leancloud_2015_06::MITIGATIONS.to_vec(),
        ),
        (
            "aws_s3_2017",
            "aws-s3-2017-us-east-1",
            scenarios::aws_s3_2017::MITIGATIONS.to_vec(),
        ),
        (
            "cloudflare_2020",
            "cloudflare-2020-etcd-elections",
            scenarios::cloudflare_2020::MITIGATIONS.to_vec(),
        ),
        (
            "foursquare_2010",
            "foursquare-2010-mongodb-shards",
            scenarios::foursquare_2010::MITIGATIONS.to_vec(),
        ),
    ]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every name in `lab.mitigated("<name>")` calls of a source file.
fn asked_for(source: &str) -> Vec<String> {
    source
        .match_indices("mitigated(\"")
        .map(|(i, m)| {
            let rest = &source[i + m.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .collect()
}

/// A scenario's source: its file, or every file of its module directory
/// (`scenarios/src/foursquare_2010/`).
fn source(path: &Path) -> String {
    if !path.is_dir() {
        return std::fs::read_to_string(path).unwrap();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no .rs file", path.display());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

#[test]
fn each_scenarios_mitigations_are_its_dossiers() {
    for (scenario, dossier, listed) in scenarios() {
        let d = Dossier::load(&root().join("postmortems").join(format!("{dossier}.toml"))).unwrap();
        assert_eq!(
            listed,
            d.mitigation_names(),
            "scenarios/src/{scenario}.rs MITIGATIONS and postmortems/{dossier}.toml's named after-mitigations differ: name each fix the after variant has in both, in the dossier's order"
        );
        let file = root().join(format!("scenarios/src/{scenario}.rs"));
        let dir = root().join(format!("scenarios/src/{scenario}"));
        let asked = asked_for(&source(if file.exists() { &file } else { &dir }));
        for name in &listed {
            assert!(
                asked.iter().any(|a| a == name),
                "{scenario}: mitigation `{name}` is listed but never asked for (`lab.mitigated(\"{name}\")`): it would change nothing"
            );
        }
        for name in &asked {
            assert!(
                listed.contains(&name.as_str()),
                "{scenario}: asks for `{name}`, which MITIGATIONS does not list"
            );
        }
    }
}

#[test]
fn no_other_scenario_asks_for_a_mitigation_unlisted() {
    let listed: Vec<&str> = scenarios().iter().map(|(s, _, _)| *s).collect();
    for entry in std::fs::read_dir(root().join("scenarios/src")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if !listed.contains(&stem.as_str()) {
            assert!(
                asked_for(&source(&path)).is_empty(),
                "{}: asks the lab for mitigations; add it to scenarios() in this test with its dossier",
                path.display()
            );
        }
    }
}

#[test]
fn the_reader_finds_what_a_scenario_asks_for() {
    // The failing side of the scan above, on a known text.
    let src = r#"if lab.mitigated("bounded_backlog") {} let b = lab.mitigated("client_backoff");"#;
    assert_eq!(asked_for(src), vec!["bounded_backlog", "client_backoff"]);
    assert!(asked_for("lab.mitigation(\"x\")").is_empty());
}
