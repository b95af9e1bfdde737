//! The labels every container, network and sidecar of a lab carries, so
//! teardown and the start-of-run sweep find exactly what a run made.

use std::collections::HashMap;

/// Present on everything the harness creates.
pub const HARNESS: &str = "io.incident-harness";
/// The lab's run id.
pub const RUN: &str = "io.incident-harness.run";
/// The incident's name.
pub const INCIDENT: &str = "io.incident-harness.incident";
/// The process that owns the run: `<pid>:<start time in clock ticks>`, so a
/// sweep can tell a live owner from a dead one even after pid reuse.
pub const OWNER: &str = "io.incident-harness.owner";
/// What the object is for: `node`, `sidecar`, `proxy`, `network`, `hog`.
pub const ROLE: &str = "io.incident-harness.role";

/// The owner token of this process (see [`OWNER`]).
pub fn owner_token() -> String {
    let pid = std::process::id();
    format!("{pid}:{}", process_start_ticks(pid).unwrap_or(0))
}

/// Whether the process named by an owner token is still alive.
pub fn owner_alive(token: &str) -> bool {
    let Some((pid, start)) = token.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    match process_start_ticks(pid) {
        Some(now) => start == 0 || now == start,
        None => false,
    }
}

/// Field 22 of `/proc/<pid>/stat`: the process start time in clock ticks.
fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields restart after ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The labels for an object of `role` in run `run_id` of `incident`.
pub fn for_run(run_id: &str, incident: &str, role: &str) -> HashMap<String, String> {
    HashMap::from([
        (HARNESS.to_string(), "1".to_string()),
        (RUN.to_string(), run_id.to_string()),
        (INCIDENT.to_string(), incident.to_string()),
        (OWNER.to_string(), owner_token()),
        (ROLE.to_string(), role.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        assert!(owner_alive(&owner_token()));
        assert!(!owner_alive("4194304999:1"));
        assert!(!owner_alive("garbage"));
        let pid = std::process::id();
        assert!(
            !owner_alive(&format!("{pid}:1")),
            "a reused pid with another start time is dead"
        );
    }

    #[test]
    fn labels_name_the_run() {
        let l = for_run("r1", "echo", "node");
        assert_eq!(l[RUN], "r1");
        assert_eq!(l[HARNESS], "1");
        assert_eq!(l[ROLE], "node");
    }
}
