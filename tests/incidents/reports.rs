//! Reports people look at, and incidents written from postmortems:
//! - the HTML index and timeline pictures, loaded in headless Chromium;
//! - `incident new` on the five seed dossiers generates code that compiles.
//!
//! Neither needs Docker. Each skips with one line when its tool is absent
//! (Chromium; cargo) and fails instead under `INCIDENT_REQUIRE_DOCKER=1`.

use harness::checker::{Check, CheckKind, Verdict};
use harness::fault::FaultRecord;
use harness::history::{History, Op};
use harness::report::{Report, RunOutcome, RECOVERY_CHECK};
use harness::spec::{IncidentSpec, Variant};
use harness::timeline::{Event, EventKind, PhaseSpan};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn skip_or_fail(reason: &str) {
    if matches!(
        std::env::var("INCIDENT_REQUIRE_DOCKER").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    ) {
        panic!("{reason} (required here: INCIDENT_REQUIRE_DOCKER is set)");
    }
    harness::runner::loud(&format!("SKIPPED {reason}"));
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // INCIDENT_KEEP_TMP=1 keeps the rendered pages for a look.
        if std::env::var_os("INCIDENT_KEEP_TMP").is_some() {
            harness::runner::loud(&format!("kept {}", self.0.display()));
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command with a deadline; returns stdout.
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {cmd:?}: {e}"))?;
    let start = Instant::now();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} ran past {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Headless Chromium with no network and a throwaway profile.
fn chromium(chrome: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn dump_dom(chrome: &Path, profile: &Path, page: &Path) -> String {
    let mut c = chromium(chrome, profile);
    c.arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()));
    run_with_deadline(c, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"))
}

/// A synthetic run: one second of load per `secs`, a fault window, phases,
/// a leader change, an OOM kill, a mitigation and a series.
fn synthetic(name: &str, postmortem: &str, variant: Variant, recovered: bool) -> (Report, History) {
    let mut spec = IncidentSpec::new(name, postmortem, variant);
    spec.budget = Duration::from_secs(20);
    let mut r = Report::skipped(&spec, 42, "");
    r.outcome = RunOutcome::Completed;
    r.error = None;
    r.run_id = format!("run-{name}");
    r.duration_secs = 60.0;
    let s = Duration::from_secs;
    r.phases = vec![
        PhaseSpan {
            name: "steady".into(),
            start: s(0),
            end: s(20),
        },
        PhaseSpan {
            name: "fault".into(),
            start: s(20),
            end: s(35),
        },
        PhaseSpan {
            name: "recover".into(),
            start: s(35),
            end: s(60),
        },
    ];
    r.faults = vec![FaultRecord {
        kind: "partition".into(),
        description: "black-hole RPC of node-2".into(),
        invoked_at: s(20),
        injected_at: Some(Duration::from_millis(20_300)),
        healed_at: Some(s(35)),
        phase: Some("fault".into()),
        error: None,
    }];
    r.timeline = vec![
        Event {
            at: s(24),
            node: Some("node-1".into()),
            kind: EventKind::LeaderChanged {
                from: Some("node-2".into()),
                to: Some("node-1".into()),
            },
        },
        Event {
            at: s(28),
            node: Some("node-3".into()),
            kind: EventKind::OomKilled,
        },
        Event {
            at: s(33),
            node: None,
            kind: EventKind::Mitigation {
                description: "evict node-2".into(),
            },
        },
    ];
    r.series.insert(
        "pending RPCs".into(),
        (0..60)
            .map(|t| {
                (
                    t as f64,
                    if (20..35).contains(&t) {
                        (t - 19) as f64 * 40.0
                    } else {
                        3.0
                    },
                )
            })
            .collect(),
    );
    let mut ops = Vec::new();
    for t in 0..60u64 {
        for k in 0..10u64 {
            let invoke = Duration::from_millis(t * 1000 + k * 90);
            let in_fault = (20..(if recovered { 35 } else { 60 })).contains(&t);
            let op = if in_fault && k % 2 == 0 {
                Op::fail("send", "timeout").at(invoke, invoke + Duration::from_millis(500))
            } else {
                Op::ok("send").at(
                    invoke,
                    invoke + Duration::from_millis(if in_fault { 300 } else { 20 + k }),
                )
            };
            ops.push(op.by(k as u32));
        }
    }
    let history = History::new(ops);
    let (ok, fail, unknown) = history.counts();
    r.ops.ok = ok as u64;
    r.ops.fail = fail as u64;
    r.ops.unknown = unknown as u64;
    let recovery = if recovered {
        Check::requirement(RECOVERY_CHECK, true, "recovered in 3.0s")
            .with_figure("recovery_secs", 3.0)
    } else {
        Check::requirement(RECOVERY_CHECK, false, "not recovered")
    };
    r.checks = vec![
        recovery,
        Check::new(
            "integrity.delivery",
            CheckKind::Always,
            Verdict::Valid,
            "none lost",
        ),
    ];
    if variant == Variant::Before {
        r.checks
            .push(Check::signature("backlog.unbounded", true, "grew to 600"));
    }
    r.verdict = Report::judge(variant, &r.checks);
    (r, history)
}

#[test]
fn index_and_pictures_load_in_chromium() {
    let Some(chrome) = harness::report::chromium_path() else {
        skip_or_fail("reports: Chromium is not installed: `apt-get install chromium`");
        return;
    };
    let root = TempDir::new("incident-reports");
    let profile = TempDir::new("incident-chromium");
    let runs = [
        synthetic(
            "chat_synthetic_before",
            "leancloud-2015-08-chat",
            Variant::Before,
            false,
        ),
        synthetic(
            "chat_synthetic_after",
            "leancloud-2015-08-chat",
            Variant::After,
            true,
        ),
        synthetic(
            "roblox_synthetic_after",
            "roblox-2021-consul",
            Variant::After,
            false,
        ),
    ];
    for (report, history) in &runs {
        history.save(&root.0.join(&report.incident)).unwrap();
        report.write_to(&root.0).unwrap();
    }
    let skipped = Report::skipped(
        &IncidentSpec::new(
            "mongo_synthetic_skipped",
            "leancloud-2015-06-mongodb",
            Variant::Before,
        ),
        7,
        "image `mongo:7.0` is not present",
    );
    skipped.write_to(&root.0).unwrap();
    // The spread of an INCIDENT_REPEAT run shows in the index.
    std::fs::write(
        root.0.join("chat_synthetic_after/repeat.json"),
        r#"{"incident":"chat_synthetic_after","recovery_secs":[2.5,3.5,null]}"#,
    )
    .unwrap();
    // An `incident ablate` result beside one report: linked and drawn.
    let ablation = synthetic_ablation();
    std::fs::write(
        root.0.join("chat_synthetic_after/ablation.svg"),
        ablation.svg(),
    )
    .unwrap();
    std::fs::write(
        root.0.join("chat_synthetic_after/ablation.md"),
        ablation.markdown(),
    )
    .unwrap();
    harness::report::html::refresh(&root.0).unwrap();

    let index = root.0.join("index.html");
    let dom = dump_dom(&chrome, &profile.0, &index);
    assert!(
        dom.contains("4 incidents: 2 passed (0 with a cause not reproduced), 1 failed, 1 skipped"),
        "{dom}"
    );
    assert!(
        dom.contains("3 runs: min 2.5s, mean 3.0s, max 3.5s (1 not measured)"),
        "{dom}"
    );
    for (report, _) in &runs {
        let name = &report.incident;
        assert!(
            dom.contains(&format!("data-incident=\"{name}\"")),
            "no row for {name}"
        );
        assert!(
            dom.contains(&format!("src=\"{name}/timeline.svg\"")),
            "no picture for {name}"
        );
        let svg = std::fs::read_to_string(root.0.join(name).join("timeline.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
        assert!(
            svg.contains("partition"),
            "{name}: the fault band is not labelled"
        );
        assert!(svg.contains("OOM kill node-3"), "{name}: no OOM marker");
        assert!(svg.contains("leader → node-1"), "{name}: no leader marker");
        assert!(svg.contains("pending RPCs"), "{name}: no series panel");
        assert!(
            svg.contains("Postmortem (as told"),
            "{name}: no postmortem strip"
        );
    }
    assert!(dom.contains("data-incident=\"mongo_synthetic_skipped\""));

    // Every picture must decode: a probe page beside the index marks each
    // image with whether Chromium rendered it (an SVG that does not parse
    // has no natural size).
    let probe = root.0.join("probe.html");
    let html = std::fs::read_to_string(&index).unwrap().replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{for(const i of document.images){\
         i.setAttribute('data-decoded', i.complete && i.naturalWidth > 0 ? 'yes' : 'no')}});\
         </script></body>",
    );
    std::fs::write(&probe, html).unwrap();
    let dom = dump_dom(&chrome, &profile.0, &probe);
    let decoded = dom.matches("data-decoded=\"yes\"").count();
    let broken = dom.matches("data-decoded=\"no\"").count();
    assert_eq!(
        (decoded, broken),
        (runs.len() + 1, 0),
        "every timeline and the ablation picture: {dom}"
    );
    assert!(
        dom.contains("href=\"chat_synthetic_after/ablation.md\""),
        "no ablation link: {dom}"
    );
}

/// An ablation of three sets: all (passes), one fix removed (fails), none.
fn synthetic_ablation() -> harness::report::ablation::Ablation {
    use harness::report::ablation::{Ablation, Row, Run};
    let run = |passed: bool, recovery: Option<f64>| Run {
        passed,
        verdict: if passed {
            harness::checker::Verdict::Valid
        } else {
            harness::checker::Verdict::Invalid
        },
        recovery_secs: recovery,
        lost: 0,
        duplicated: 0,
        failed: Vec::new(),
        signatures: Default::default(),
        seed: 1,
        asked: ["client_backoff".to_string()].into(),
    };
    let row = |set: &str, removed: Option<&str>, runs| Row {
        set: set.into(),
        removed: removed.map(String::from),
        runs,
    };
    Ablation::new(
        "chat_synthetic_after",
        20.0,
        2,
        vec![
            row(
                "all",
                None,
                vec![run(true, Some(3.0)), run(true, Some(4.0))],
            ),
            row(
                "all - client_backoff",
                Some("client_backoff"),
                vec![run(false, Some(31.0)), run(false, None)],
            ),
            row("none", None, vec![run(false, None), run(false, None)]),
        ],
    )
}

/// The `[profile.*]` sections of the workspace manifest (they end it), so
/// a crate built in the same target dir reuses the workspace's artifacts
/// instead of compiling every dependency again with other settings.
fn workspace_profiles(workspace: &Path) -> String {
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let start = manifest
        .find("\n[profile.")
        .expect("the workspace manifest has [profile.*] sections");
    let profiles = &manifest[start..];
    assert!(
        profiles
            .lines()
            .filter(|l| l.starts_with('['))
            .all(|l| l.starts_with("[profile.")),
        "the [profile.*] sections must end the workspace manifest:\n{profiles}"
    );
    profiles.to_string()
}

/// `incident new` on every seed dossier, generated into one temporary
/// crate laid out like this workspace (a `scenarios` library, a suite in
/// `tests/incidents/`) that depends on the harness by path, linted once
/// with `cargo clippy --tests -- -D warnings` (sharing the workspace's
/// target dir and profiles, so only the new crate compiles) and `rustfmt
/// --check`ed.
#[test]
fn incident_new_skeletons_compile() {
    // Two cargo builds: no incident of this process runs its timing
    // verdicts beside them.
    let _slot = harness::runner::LabSlot::acquire();
    let workspace = harness::lab::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if Command::new(&cargo).arg("--version").output().is_err() {
        skip_or_fail("incident new: cargo is not on PATH");
        return;
    }
    let tmp = TempDir::new("incident-new");
    let krate = &tmp.0;
    std::fs::create_dir_all(krate.join("scenarios/src")).unwrap();
    std::fs::create_dir_all(krate.join("tests")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"scenarios\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [lib]\npath = \"scenarios/src/lib.rs\"\n\n\
             [dependencies]\nharness = {{ path = {:?} }}\nanyhow = \"1\"\ntokio = {{ version = \"1\", features = [\"time\"] }}\n\n\
             [[test]]\nname = \"incidents\"\npath = \"tests/incidents.rs\"\n\n[workspace]\n\n\
             # The workspace's profiles, so its compiled dependencies are reused.\n{}",
            workspace.join("harness").display().to_string(),
            workspace_profiles(&workspace)
        ),
    )
    .unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    std::fs::write(
        krate.join("scenarios/src/lib.rs"),
        "//! Generated scenarios, checked.\n",
    )
    .unwrap();
    std::fs::write(
        krate.join("tests/incidents.rs"),
        "//! Generated incidents.\n\nmod incidents {\n}\n",
    )
    .unwrap();
    let mut names = Vec::new();
    for id in harness::cli::new::SEED_DOSSIERS {
        let name = id.replace('-', "_");
        let args = harness::cli::new::NewArgs {
            name: name.clone(),
            from: workspace.join("postmortems").join(format!("{id}.toml")),
            out: Some(krate.clone()),
            force: false,
        };
        assert_eq!(harness::cli::new::run(&args).unwrap(), 0, "{id}");
        assert!(krate.join(format!("postmortems/{id}.md")).exists());
        assert!(krate.join(format!("scenarios/src/{name}.rs")).exists());
        names.push(name);
    }
    let lib = std::fs::read_to_string(krate.join("scenarios/src/lib.rs")).unwrap();
    for n in &names {
        assert!(
            lib.contains(&format!("pub mod {n};")),
            "{n} not registered:\n{lib}"
        );
    }
    let suite = std::fs::read_to_string(krate.join("tests/incidents.rs")).unwrap();
    for n in &names {
        assert!(
            suite.contains(&format!("mod {n};")),
            "{n} not registered:\n{suite}"
        );
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    // Clippy with `-D warnings`, as CI lints the workspace: the generated
    // code must be clean as written, not only compile.
    let clippy = Command::new(&cargo).args(["clippy", "--version"]).output();
    if !clippy.is_ok_and(|o| o.status.success()) {
        skip_or_fail("incident new: cargo clippy is not installed (rustup component add clippy)");
        return;
    }
    let mut check = Command::new(&cargo);
    check
        .args([
            "clippy",
            "--tests",
            "--offline",
            "--message-format",
            "short",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", &target);
    let out = check.output().expect("running cargo clippy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "generated incidents do not compile:\n{stderr}"
    );
    let generated_warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            (l.starts_with("tests/") || l.starts_with("scenarios/")) && l.contains("warning")
        })
        .collect();
    assert!(
        generated_warnings.is_empty(),
        "generated code has warnings:\n{}",
        generated_warnings.join("\n")
    );
    // As `cargo fmt --check` would see them: the files `incident new` wrote
    // and the two it added `mod` lines to.
    let mut files = vec![
        krate.join("scenarios/src/lib.rs"),
        krate.join("tests/incidents.rs"),
    ];
    for n in &names {
        files.push(krate.join(format!("scenarios/src/{n}.rs")));
        files.push(krate.join(format!("tests/incidents/{n}.rs")));
    }
    let fmt = Command::new("rustfmt")
        .args(["--edition", "2021", "--check"])
        .args(&files)
        .output()
        .expect("running rustfmt");
    assert!(
        fmt.status.success(),
        "generated code is not rustfmt-clean:\n{}",
        String::from_utf8_lossy(&fmt.stdout)
    );
    run_unedited_skeletons(&cargo, krate, &target);
}

/// Runs two of the unedited skeletons for real: one whose system runs here
/// must FAIL, saying no check was recorded (a skeleton never passes), and
/// one on MongoDB must skip with its loud line. Their artifacts go to the
/// temp crate, not over the real incidents' reports.
fn run_unedited_skeletons(cargo: &str, krate: &Path, target: &Path) {
    let build = Command::new(cargo)
        .args(["test", "--test", "incidents", "--no-run", "--offline"])
        .args(["--message-format", "json"])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("running cargo test --no-run");
    assert!(
        build.status.success(),
        "generated incidents do not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let binary = String::from_utf8_lossy(&build.stdout)
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("\"executable\":\"")?;
            rest.split_once('"').map(|(path, _)| PathBuf::from(path))
        })
        .expect("cargo names the generated incidents' test binary");
    let run = |test: &str| {
        let out = Command::new(&binary)
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .current_dir(krate)
            .env("INCIDENT_ARTIFACTS", krate.join("artifacts"))
            .env_remove("INCIDENT_REQUIRE_DOCKER")
            .env_remove("INCIDENT_ALLOW_SKIP")
            .env_remove("INCIDENT_REPLAY")
            .output()
            .expect("running the generated incidents");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (passed, text) =
        run("incidents::leancloud_2015_06_mongodb::leancloud_2015_06_mongodb_after");
    assert!(
        passed && text.contains("SKIPPED") && text.contains("mongo"),
        "an unedited MongoDB skeleton skips here, naming why:\n{text}"
    );
    if !harness::runner::docker_or_skip("incident new: running an unedited skeleton") {
        return;
    }
    let (passed, text) = run("incidents::roblox_2021_consul::roblox_2021_consul_before");
    assert!(
        !passed && text.contains("no signature check was recorded"),
        "an unedited skeleton runs and fails for want of a check:\n{text}"
    );
}

/// The echo incident the replay test records and replays (same name both
/// times: a replay judges only the incident its report is of).
const REPLAY_INCIDENT: &str = "reports_echo_replay";

fn run_echo_incident() {
    let mut spec = IncidentSpec::new(REPLAY_INCIDENT, "harness-echo", Variant::After);
    spec.budget = Duration::from_secs(30);
    spec.timeout = Duration::from_secs(180);
    spec.requires = vec![
        harness::spec::Requirement::Docker,
        harness::spec::Requirement::Base,
    ];
    harness::runner::run(spec, |lab| {
        Box::pin(async move {
            scenarios::echo::run(lab, scenarios::echo::Plan::ci()).await?;
            Ok(())
        })
    });
}

/// The second half of [`replay_gives_the_same_fault_plan`], in its own
/// process so `INCIDENT_REPLAY` does not reach other tests.
#[test]
#[ignore = "run by replay_gives_the_same_fault_plan with INCIDENT_REPLAY set"]
fn replay_child_echo() {
    assert!(
        std::env::var_os("INCIDENT_REPLAY").is_some(),
        "run by replay_gives_the_same_fault_plan, with INCIDENT_REPLAY set"
    );
    run_echo_incident();
}

/// Records a real run (the echo service stopped and started), replays it
/// with `INCIDENT_REPLAY`, and asserts the replay executed the same fault
/// plan with the same seed, and that the harness's plan check agreed.
#[test]
fn replay_gives_the_same_fault_plan() {
    run_echo_incident();
    let dir = harness::lab::artifacts_root().join(REPLAY_INCIDENT);
    let first = Report::read(&dir.join("report.json")).expect("the recorded report");
    if first.outcome == RunOutcome::Skipped {
        return; // the runner printed why (no Docker or no base image)
    }
    assert!(
        !first.faults.is_empty(),
        "the recorded run injected no fault"
    );
    assert!(
        first.images.values().all(|id| id.starts_with("sha256:")),
        "image ids not resolved: {:?}",
        first.images
    );
    let tmp = TempDir::new("incident-replay");
    let recorded = tmp.0.join("recorded.json");
    std::fs::copy(dir.join("report.json"), &recorded).unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe);
    child
        .args([
            "--exact",
            "incidents::reports::replay_child_echo",
            "--ignored",
            "--nocapture",
        ])
        .env("INCIDENT_REPLAY", &recorded);
    run_with_deadline(child, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("the replayed run failed: {e}"));

    let second = Report::read(&dir.join("report.json")).expect("the replayed report");
    assert_ne!(second.run_id, first.run_id, "the replay did not run");
    assert_eq!(second.seed, first.seed, "the replay used another seed");
    let plan = |r: &Report| {
        r.faults
            .iter()
            .map(|f| (f.kind.clone(), f.description.replace(&r.run_id, "<run>")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        plan(&second),
        plan(&first),
        "the replay ran another fault plan"
    );
    let diffs = harness::report::replay::compare(
        &first.faults,
        &first.run_id,
        &second.faults,
        &second.run_id,
        harness::report::replay::DEFAULT_TOLERANCE,
    );
    assert!(diffs.is_empty(), "{diffs:?}");
    assert!(
        second
            .notes
            .iter()
            .any(|n| n.contains("the same fault plan")),
        "the harness's plan check did not run: {:?}",
        second.notes
    );
    assert!(!second
        .checks
        .iter()
        .any(|c| c.name == harness::report::replay::PLAN_CHECK));
    assert_eq!(second.images, first.images);
}
