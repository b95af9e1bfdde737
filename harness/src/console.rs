//! What the harness says on the terminal, and the rule for skipping.
//!
//! A leaf: the runner, the report writer and tests outside `#[incident]`
//! all print skips and spreads the same way.

use std::io::Write;

/// Writes one line to the terminal even under libtest's output capture
/// (skips must be seen).
pub fn loud(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Whether the environment variable `name` is set to `1`, `true` or `yes`.
pub fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// For tests outside `#[incident]` that need Docker (they drive child
/// processes or the CLI): `true` if Docker answers; otherwise says why the
/// test skips in one line and returns `false`, or panics when
/// `INCIDENT_REQUIRE_DOCKER=1` (where Docker must be there, a skip would
/// hide a broken machine).
pub fn docker_or_skip(test: &str) -> bool {
    let up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        let line =
            format!("SKIPPED {test}: Docker is not running (start dockerd, or run scripts/setup)");
        if env_flag("INCIDENT_REQUIRE_DOCKER") {
            panic!("{line}; failing because INCIDENT_REQUIRE_DOCKER is set");
        }
        loud(&line);
    }
    up
}
