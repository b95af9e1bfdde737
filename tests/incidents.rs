//! The incident suite: `cargo test --test incidents`.
//!
//! One file per postmortem (or per harness capability) under
//! `tests/incidents/`. Each `#[incident]` is a plain test: it skips with one
//! line when its systems are absent, and fails under
//! `INCIDENT_REQUIRE_DOCKER=1` if a system that can run here is missing.

/// Snapshots a report's stable view into `tests/snapshots/`: the one place
/// the suite binds insta's `snapshot_path`. A macro, not a function, so the
/// snapshot keeps the calling test's module, file and (unnamed) function.
/// A run with another set of mitigations than its variant's (`incident
/// ablate`) is judged by its checks alone: its snapshot is not the
/// committed one.
macro_rules! assert_stable_snapshot {
    ($name:literal, $report:expr) => {
        if $report.snapshot_applies() {
            insta::with_settings!({ snapshot_path => "../snapshots" }, {
                insta::assert_yaml_snapshot!($name, $report.stable());
            })
        }
    };
    ($report:expr) => {
        if $report.snapshot_applies() {
            insta::with_settings!({ snapshot_path => "../snapshots" }, {
                insta::assert_yaml_snapshot!($report.stable());
            })
        }
    };
}

mod incidents {
    mod aws_s3_2017;
    mod chat;
    mod cloudflare_2020;
    mod echo;
    mod faults;
    mod mongo;
    mod reports;
    mod roblox;
    mod smoke;
}
