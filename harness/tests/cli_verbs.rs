//! The `incident` verbs users reach for after a run, each with its error
//! for bad input: one plain line on stderr naming the fix, a non-zero exit,
//! nothing half-done.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn incident(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incident"));
    c.args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the incident binary runs")
}

/// The one non-empty line of stderr, after checking the exit failed.
fn one_line_failure(out: &Output) -> String {
    assert_ne!(out.status.code(), Some(0), "must fail: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line, got: {stderr}");
    lines[0].to_string()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cli-verbs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dead_docker() -> PathBuf {
    std::env::temp_dir().join(format!("no-docker-{}.sock", std::process::id()))
}

#[test]
fn list_shows_every_incident_and_why_one_cannot_run() {
    let dead = dead_docker();
    let host = PathBuf::from(format!("unix://{}", dead.display()));
    let out = incident(&["list"], &[("DOCKER_HOST", &host)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    for t in [
        "incidents::chat::leancloud_2015_08_after",
        "incidents::roblox::roblox_consul_before",
        "incidents::mongo::leancloud_2015_06_no_primary_before",
    ] {
        assert!(table.contains(t), "{t} not listed:\n{table}");
    }
    // Without Docker nothing can run, and each row says so.
    assert!(table.contains("not reachable"), "{table}");
    assert!(!table.contains("│ yes"), "{table}");
    let none = incident(&["list", "no_such_incident"], &[]);
    assert!(one_line_failure(&none).contains("`incident list`"));
}

#[test]
fn replay_refuses_a_missing_report_and_one_of_another_suite() {
    let dir = scratch("replay");
    let missing = dir.join("report.json");
    let line = one_line_failure(&incident(&["replay", missing.to_str().unwrap()], &[]));
    assert!(line.contains("does not exist"), "{line}");
    assert!(line.contains("report.json"), "{line}");

    std::fs::write(&missing, "{\"not\": \"a report\"}").unwrap();
    let line = one_line_failure(&incident(&["replay", missing.to_str().unwrap()], &[]));
    assert!(line.contains("not an incident report"), "{line}");

    let other = harness::report::Report::skipped(
        &harness::spec::IncidentSpec::new(
            "some_other_suites_incident",
            "elsewhere",
            harness::spec::Variant::After,
        ),
        7,
        "x",
    );
    std::fs::write(&missing, serde_json::to_string(&other).unwrap()).unwrap();
    let artifacts = dir.join("artifacts");
    let line = one_line_failure(&incident(
        &["replay", missing.to_str().unwrap()],
        &[("INCIDENT_ARTIFACTS", &artifacts)],
    ));
    assert!(line.contains("some_other_suites_incident"), "{line}");
    assert!(line.contains("incident list"), "{line}");
    assert!(
        !artifacts.join("replays").exists(),
        "nothing kept for a refused replay"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_keeps_the_report_aside_before_running() {
    let dir = scratch("replay-keep");
    let report = dir.join("report.json");
    let mine = harness::report::Report::skipped(
        &harness::spec::IncidentSpec::new(
            "leancloud_2015_08_after",
            "leancloud-2015-08-chat",
            harness::spec::Variant::After,
        ),
        42,
        "x",
    );
    std::fs::write(&report, serde_json::to_string(&mine).unwrap()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plan = harness::cli::replay::prepare(&report, &root, &dir.join("artifacts")).unwrap();
    assert_eq!(plan.test_path, "incidents::chat::leancloud_2015_08_after");
    assert_eq!(
        plan.kept,
        dir.join("artifacts/replays/leancloud_2015_08_after-seed-42.json")
    );
    assert_eq!(
        std::fs::read(&plan.kept).unwrap(),
        std::fs::read(&report).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_names_the_run_that_makes_what_is_missing() {
    let dir = scratch("open");
    let line = one_line_failure(&incident(&["open"], &[("INCIDENT_ARTIFACTS", &dir)]));
    assert!(line.contains("index.html does not exist"), "{line}");
    assert!(line.contains("cargo test --test incidents"), "{line}");
    let line = one_line_failure(&incident(
        &["open", "weibo_2017_after"],
        &[("INCIDENT_ARTIFACTS", &dir)],
    ));
    assert!(
        line.contains("cargo test --test incidents weibo_2017_after"),
        "{line}"
    );
    std::fs::write(dir.join("index.html"), "<html></html>").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_incident"))
        .arg("open")
        .env("INCIDENT_ARTIFACTS", &dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.trim().starts_with("file://") && printed.trim().ends_with("index.html"),
        "{printed}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clean_without_docker_says_so_in_one_line() {
    let dead = dead_docker();
    let host = PathBuf::from(format!("unix://{}", dead.display()));
    let line = one_line_failure(&incident(&["clean"], &[("DOCKER_HOST", &host)]));
    assert!(line.contains("not reachable"), "{line}");
    assert!(line.contains("dockerd"), "{line}");
}

/// With Docker, `clean` removes a run whose owner is gone and leaves a
/// live one's alone.
#[test]
fn clean_removes_orphans_only() {
    if Command::new("docker")
        .arg("info")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        if std::env::var("INCIDENT_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("clean_removes_orphans_only needs Docker (INCIDENT_REQUIRE_DOCKER is set)");
        }
        eprintln!("SKIPPED clean_removes_orphans_only: Docker is not reachable");
        return;
    }
    let run = format!("cli-clean-{}", std::process::id());
    let labels = |owner: &str, run: &str| {
        vec![
            "--label".to_string(),
            format!("{}=1", harness::labels::HARNESS),
            "--label".to_string(),
            format!("{}={run}", harness::labels::RUN),
            "--label".to_string(),
            format!("{}={owner}", harness::labels::OWNER),
        ]
    };
    let net = |name: &str, l: Vec<String>| {
        let ok = Command::new("docker")
            .args(["network", "create"])
            .args(l)
            .arg(name)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "docker network create {name}");
    };
    // No process has pid 4,000,000,000 (pid_max is at most 2^22).
    let dead_owner = "4000000000:1".to_string();
    let live_owner = harness::labels::owner_token();
    net(
        &format!("{run}-dead"),
        labels(&dead_owner, &format!("{run}-dead")),
    );
    net(
        &format!("{run}-live"),
        labels(&live_owner, &format!("{run}-live")),
    );
    let out = incident(&["clean"], &[]);
    let exists = |name: &str| {
        Command::new("docker")
            .args(["network", "inspect", name])
            .output()
            .unwrap()
            .status
            .success()
    };
    let dead_left = exists(&format!("{run}-dead"));
    let live_left = exists(&format!("{run}-live"));
    let _ = Command::new("docker")
        .args([
            "network",
            "rm",
            &format!("{run}-dead"),
            &format!("{run}-live"),
        ])
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!dead_left, "the orphan stayed: {out:?}");
    assert!(live_left, "a live run was swept: {out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&format!("{run}-dead")), "{printed}");
}

/// `incident bisect` checks its arguments before it builds or fetches
/// anything: each mistake is one line naming the fix.
#[test]
fn bisect_refuses_bad_input_in_one_line_before_building() {
    let artifacts = scratch("bisect");
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "bisect",
                "consul",
                "1.22.6..1.10.12",
                "roblox_consul_before",
            ],
            "write the older release first: 1.10.12..1.22.6",
        ),
        (
            &[
                "bisect",
                "consull",
                "1.10.12..1.22.6",
                "roblox_consul_before",
            ],
            "unknown image `consull`",
        ),
        (
            &["bisect", "consul", "1.10.12..1.22.6", "roblox_2021"],
            "`incident list`",
        ),
        (
            &[
                "bisect",
                "consul",
                "1.10.12..1.22.6",
                "echo_stopped_and_started",
            ],
            "runs no Consul",
        ),
    ];
    for (args, needle) in cases {
        let out = incident(args, &[("INCIDENT_ARTIFACTS", &artifacts)]);
        let line = one_line_failure(&out);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    // Nothing was started: no bisection record, no run directory.
    let left: Vec<_> = std::fs::read_dir(&artifacts).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&artifacts);
}
