//! `incident doctor` with no Docker: one line saying so and how to start
//! it, and a non-zero exit.

use std::process::Command;

#[test]
fn doctor_without_docker_says_so_in_one_line_and_fails() {
    let dead = std::env::temp_dir().join(format!("no-docker-{}.sock", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_incident"))
        .arg("doctor")
        .env("DOCKER_HOST", format!("unix://{}", dead.display()))
        .output()
        .expect("the incident binary runs");
    assert_ne!(
        out.status.code(),
        Some(0),
        "doctor must fail without Docker"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line, got: {stderr}");
    assert!(lines[0].contains("not reachable"), "{}", lines[0]);
    assert!(
        lines[0].contains("dockerd"),
        "names how to start it: {}",
        lines[0]
    );
    assert!(out.stdout.is_empty(), "no table without Docker");
}
