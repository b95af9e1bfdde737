//! `.ci/run` allows exactly the MongoDB incidents to skip: every
//! `#[incident]` of the suite that requires `mongo` is named in its
//! `INCIDENT_ALLOW_SKIP` list, and nothing else is. And it runs the
//! README's test command, the one a new user is told passes the tests.

use std::collections::BTreeSet;
use std::path::Path;

/// The names of the `#[incident]`s in `src` whose attribute requires mongo.
fn mongo_incidents(src: &str) -> Vec<String> {
    let mut names = Vec::new();
    for attr in src.split("#[incident(").skip(1) {
        let Some(fn_at) = attr.find("async fn ") else {
            continue;
        };
        let (args, rest) = attr.split_at(fn_at);
        let name: String = rest["async fn ".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let requires = args
            .split_once("requires")
            .map(|(_, r)| r.split(']').next().unwrap_or_default())
            .unwrap_or_default();
        if requires.contains("mongo") {
            names.push(name);
        }
    }
    names
}

#[test]
fn ci_allows_exactly_the_mongo_incidents_to_skip() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut wanted = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("tests/incidents")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            wanted.extend(mongo_incidents(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(
        wanted.len() >= 5,
        "the suite's MongoDB incidents are found: {wanted:?}"
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let list = ci
        .split_once("mongo_incidents=(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .expect(".ci/run has a mongo_incidents=( ... ) list");
    let allowed: BTreeSet<String> = list.split_whitespace().map(String::from).collect();
    assert_eq!(allowed, wanted, ".ci/run's INCIDENT_ALLOW_SKIP list");
    assert!(
        ci.contains(r#"INCIDENT_ALLOW_SKIP=$(IFS=,; echo "${mongo_incidents[*]}")"#),
        "the list is what INCIDENT_ALLOW_SKIP is set to"
    );
}

/// The README's test command: the second line of its "Two commands"
/// block, without its comment.
fn readme_test_command(readme: &str) -> Option<String> {
    let block = readme.split_once("## Two commands")?.1;
    let block = block.split_once("```sh\n")?.1.split_once("```")?.0;
    let line = block.lines().nth(1)?;
    Some(line.split('#').next()?.trim().to_string())
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme_test_command(&readme).expect("README has a Two commands block");
    assert!(command.starts_with("cargo "), "{command:?}");
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let last = ci
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .map(str::trim)
        .unwrap_or_default();
    assert_eq!(
        last, command,
        ".ci/run ends by running the README's test command"
    );
    assert_eq!(
        readme_test_command("## Two commands\n\n```sh\nsetup  # x\ncargo test --all   # y\n```\n"),
        Some("cargo test --all".into())
    );
}

#[test]
fn the_parser_finds_only_incidents_requiring_mongo() {
    let src = r#"
#[incident(postmortem = "a", variant = after, budget = "1s", requires = [mongo])]
async fn a_after(lab: &mut Lab) -> Outcome { Ok(()) }
#[incident(postmortem = "b", variant = after, budget = "1s", requires = [consul])]
async fn b_after(lab: &mut Lab) -> Outcome { Ok(()) } // mongo in a comment
#[incident(
    postmortem = "c",
    requires = [toxiproxy, mongo],
)]
async fn c_before(lab: &mut Lab) -> Outcome { Ok(()) }
"#;
    assert_eq!(mongo_incidents(src), vec!["a_after", "c_before"]);
}
