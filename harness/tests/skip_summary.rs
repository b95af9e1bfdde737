//! Skips are visible: a test process that ran incidents ends with one line
//! on stderr (`incidents: N passed, N failed, N skipped (<name>: <reason>)`),
//! printed at process exit even under libtest's output capture; and
//! `INCIDENT_ALLOW_SKIP` fails a skip it does not name.
//!
//! The parents re-run this test binary as a CHILD process, with plain
//! libtest options (no `--nocapture`), selecting the two ignored incidents
//! in [`children`]. Both require MongoDB, whose image is pointed at one
//! that does not exist, so they skip on any machine (with Docker or
//! without) and start nothing in Docker.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod children {
    use harness::prelude::*;

    #[incident(postmortem = "skip-summary", variant = after, budget = "1s", requires = [mongo])]
    #[ignore = "a child of the skip_summary tests (it always skips)"]
    async fn skip_child_allowed(_lab: &mut Lab) -> Outcome {
        panic!("the child incident must skip: its MongoDB image does not exist")
    }

    #[incident(postmortem = "skip-summary", variant = before, budget = "1s", requires = [mongo])]
    #[ignore = "a child of the skip_summary tests (it always skips)"]
    async fn skip_child_refused(_lab: &mut Lab) -> Outcome {
        panic!("the child incident must skip: its MongoDB image does not exist")
    }
}

/// A fresh artifacts directory for one child run.
fn artifacts(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skip-summary-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs both child incidents in one child process; `allow` is
/// `INCIDENT_ALLOW_SKIP` (unset when `None`).
fn run_children(artifacts: &Path, allow: Option<&str>) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["children::", "--ignored", "--test-threads=1"])
        .env("INCIDENT_ARTIFACTS", artifacts)
        .env(
            "INCIDENT_IMAGE_MONGO",
            "incident-harness-absent/mongo:never",
        )
        .env_remove("INCIDENT_REQUIRE_DOCKER")
        .env_remove("INCIDENT_REQUIRE_MONGO")
        .env_remove("INCIDENT_ALLOW_SKIP")
        .env_remove("INCIDENT_REPEAT")
        .env_remove("INCIDENT_NO_TALLY");
    if let Some(allow) = allow {
        cmd.env("INCIDENT_ALLOW_SKIP", allow);
    }
    cmd.output().expect("the child test binary runs")
}

/// The reason a child incident skipped, from its `SKIPPED incident` line.
fn skip_reason(stderr: &str, name: &str) -> String {
    let prefix = format!("SKIPPED incident {name}: ");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stderr}"))
        .to_string()
}

/// The lines starting with `incidents:`; there must be exactly one.
fn closing_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("incidents:"))
        .collect();
    assert_eq!(lines.len(), 1, "one closing line expected in:\n{stderr}");
    assert_eq!(
        stderr.lines().rev().find(|l| !l.trim().is_empty()),
        Some(lines[0]),
        "the closing line is the last thing on stderr:\n{stderr}"
    );
    lines[0].to_string()
}

#[test]
fn a_process_that_ran_incidents_ends_with_one_line_naming_each_skip() {
    let dir = artifacts("plain");
    let out = run_children(&dir, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "skips pass without INCIDENT_ALLOW_SKIP:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("2 passed"),
        "libtest ran both children:\n{stdout}"
    );
    let allowed = skip_reason(&stderr, "skip_child_allowed");
    let refused = skip_reason(&stderr, "skip_child_refused");
    assert_eq!(allowed, refused, "both lack the same image");
    assert_eq!(
        closing_line(&stderr),
        format!(
            "incidents: 0 passed, 0 failed, 2 skipped (skip_child_allowed, skip_child_refused: {allowed})"
        ),
        "one reason, said once for both"
    );

    // The skip's report and the JUnit name the test as libtest and
    // nextest do: its path in the binary, and the binary id.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("skip_child_allowed/report.json"))
            .expect("the skip wrote its report"),
    )
    .unwrap();
    assert_eq!(report["test_path"], "children::skip_child_allowed");
    assert_eq!(report["binary_id"], "harness::skip_summary");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        junit.contains(
            r#"<testcase name="children::skip_child_allowed" classname="harness::skip_summary""#
        ),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<testsuite name="harness::skip_summary""#),
        "{junit}"
    );
    let listed = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--ignored"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("children::skip_child_allowed: test"),
        "libtest's own name for it is the same"
    );
}

#[test]
fn incident_allow_skip_fails_a_skip_it_does_not_name() {
    let dir = artifacts("allow");
    let out = run_children(&dir, Some("foursquare_*, skip_child_allow*"));
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a skip INCIDENT_ALLOW_SKIP does not name fails the run:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test children::skip_child_allowed ... ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test children::skip_child_refused ... FAILED"),
        "{stdout}"
    );
    let allowed = skip_reason(&stderr, "skip_child_allowed");
    // The refused skip's reason is the same kind of line as the allowed one.
    let refusal = stdout
        .lines()
        .find(|l| l.starts_with("incident skip_child_refused skipped ("))
        .unwrap_or_else(|| panic!("no refusal line in:\n{stdout}"));
    assert!(
        refusal.ends_with(
            "), and INCIDENT_ALLOW_SKIP does not name it (it allows: foursquare_*, skip_child_allow*)"
        ),
        "{refusal}"
    );
    assert!(
        !stderr.contains("SKIPPED incident skip_child_refused"),
        "a refused skip is a failure, not a skip:\n{stderr}"
    );
    assert_eq!(
        closing_line(&stderr),
        format!("incidents: 0 passed, 1 failed, 1 skipped (skip_child_allowed: {allowed})")
    );
}
