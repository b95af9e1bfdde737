//! The incident suite: `cargo test --test incidents`.
//!
//! One file per postmortem (or per harness capability) under
//! `tests/incidents/`. Each `#[incident]` is a plain test: it skips with one
//! line when its systems are absent, and fails under
//! `INCIDENT_REQUIRE_DOCKER=1` if a system that can run here is missing.

mod incidents {
    mod chat;
    mod echo;
    mod faults;
    mod mongo;
    mod reports;
    mod roblox;
    mod smoke;
}
