//! However an incident ends, nothing of its lab stays in Docker:
//! - its `timeout` expires: the test fails showing the timeline so far;
//! - Ctrl-C (SIGINT) or SIGTERM arrives: the labs are torn down, then exit;
//! - its process is killed outright (SIGKILL: no code runs): the next lab
//!   in any process sweeps the run, its owner being gone.
//!
//! Each case re-runs this test binary as a CHILD process (selected by
//! [`CHILD_ENV`]) that starts a node and then waits; the parent watches it
//! and asks Docker (CLI, by the run's label) what is left.

mod fault_support;

use fault_support::*;
use harness::labels;
use harness::runner;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "INCIDENT_LAB_ENDS_CHILD";

/// One case at a time: a child's first lab sweeps dead runs, and would
/// take the sweep case's run from under it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The child: starts a node, says so, then waits far longer than any case.
#[test]
fn lab_ends_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut s = spec("lab_ends_child", &[]);
    if mode == "timeout" {
        s.timeout = Duration::from_secs(8);
    }
    runner::run(s, |lab| {
        Box::pin(async move {
            eprintln!("CHILD_RUN={}", lab.run_id());
            nodes(lab, 1).await?;
            lab.phase("waiting").await;
            eprintln!("CHILD_READY");
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok(())
        })
    });
}

fn left_of(run: &str) -> Vec<String> {
    let filter = format!("label={}={run}", labels::RUN);
    let mut left = Vec::new();
    for args in [
        vec!["ps", "-a", "-q", "--filter", &filter],
        vec!["network", "ls", "-q", "--filter", &filter],
    ] {
        let out = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker CLI");
        left.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    left
}

/// A child test process and everything it prints (stdout, where libtest
/// reports a failure, and stderr), read by threads so it never blocks.
struct ChildRun {
    child: Child,
    run: String,
    lines: std::sync::mpsc::Receiver<String>,
    printed: String,
}

impl ChildRun {
    /// Everything printed until the child ended (call after it ended).
    fn printed(mut self) -> String {
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.printed.push_str(&l);
            self.printed.push('\n');
        }
        self.printed
    }
}

/// Starts the child in `mode` and reads what it prints until it is ready;
/// `None` if it skipped (said so loudly).
fn start_child(mode: &str) -> Option<ChildRun> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lab_ends_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-running the test binary");
    let (tx, lines) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx2.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut printed = String::new();
    let mut run = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        printed.push_str(&line);
        printed.push('\n');
        if let Some(r) = line.trim().strip_prefix("CHILD_RUN=") {
            run = Some(r.trim().to_string());
        }
        if line.contains("SKIPPED incident") {
            let _ = child.wait();
            runner::loud(&format!(
                "SKIPPED lab_ends ({mode}): the child skipped: {line}"
            ));
            return None;
        }
        if line.contains("CHILD_READY") {
            let run = run.unwrap_or_else(|| panic!("the child printed no run id:\n{printed}"));
            return Some(ChildRun {
                child,
                run,
                lines,
                printed,
            });
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the child was not ready within 120 s:\n{printed}");
}

/// The child of `test` in `mode`, ready with its node up; `None` when the
/// test skips (no Docker, said in one line; or the child skipped).
fn started(test: &str, mode: &str) -> Option<ChildRun> {
    if !runner::docker_or_skip(test) {
        return None;
    }
    let c = start_child(mode)?;
    assert!(
        !left_of(&c.run).is_empty(),
        "{test}: the child's node is up"
    );
    Some(c)
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the child did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_timed_out_incident_fails_with_its_timeline_and_leaves_nothing() {
    let _serial = serial();
    let Some(mut c) = started(
        "a_timed_out_incident_fails_with_its_timeline_and_leaves_nothing",
        "timeout",
    ) else {
        return;
    };
    let run = c.run.clone();
    let status = wait_with_deadline(&mut c.child, Duration::from_secs(90));
    let printed = c.printed();
    assert!(!status.success(), "a timed-out incident fails:\n{printed}");
    assert!(
        printed.contains("timed out after 8s"),
        "it says it timed out:\n{printed}"
    );
    assert!(
        printed.contains("waiting"),
        "it shows the timeline so far (the phase it was in):\n{printed}"
    );
    assert_eq!(left_of(&run), Vec::<String>::new(), "run {run} left");
}

#[test]
fn ctrl_c_and_sigterm_tear_the_lab_down_before_exiting() {
    let _serial = serial();
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let Some(mut c) = started(
            "ctrl_c_and_sigterm_tear_the_lab_down_before_exiting",
            "signal",
        ) else {
            return;
        };
        let run = c.run.clone();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(c.child.id() as i32, signal) }, 0);
        let status = wait_with_deadline(&mut c.child, Duration::from_secs(60));
        let printed = c.printed();
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "{name}: exits with 128 + the signal:\n{printed}"
        );
        assert!(
            printed.contains("tearing down 1 live lab(s)"),
            "{name}: says what it tears down:\n{printed}"
        );
        assert_eq!(
            left_of(&run),
            Vec::<String>::new(),
            "{name}: run {run} left"
        );
    }
}

#[test]
fn a_killed_owners_run_is_swept_by_the_next_lab() {
    let _serial = serial();
    let Some(mut c) = started("a_killed_owners_run_is_swept_by_the_next_lab", "kill") else {
        return;
    };
    let run = c.run.clone();
    c.child.kill().expect("SIGKILL");
    c.child.wait().unwrap();
    assert!(
        !left_of(&run).is_empty(),
        "SIGKILL leaves the run behind: nothing could run to remove it"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let swept = rt.block_on(async {
        let docker = harness::docker::connect().await.expect("Docker");
        harness::lab::sweep_orphans(&docker).await
    });
    assert!(swept.contains(&run), "run {run} swept: {swept:?}");
    assert_eq!(left_of(&run), Vec::<String>::new(), "run {run} left");
}
