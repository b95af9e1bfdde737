//! What an `#[incident]` test runs: a multi-thread tokio runtime, tracing,
//! the requirement checks (skip with a reason, or fail under
//! `INCIDENT_REQUIRE_DOCKER=1` / `INCIDENT_REQUIRE_MONGO=1`), the lab, the
//! body under the incident's timeout, the verdict, and a teardown that runs
//! however the body ends.
//!
//! One concept, one file: the life of one `#[incident]` test from
//! requirements to teardown; a sixth of it is tests.

pub use crate::console::{docker_or_skip, loud};
use crate::console::{env_flag, skip_refused};
use crate::history::History;
use crate::images::{self, ImageId};
use crate::lab::Lab;
use crate::mitigations::Mitigations;
use crate::report::{Report, RunOutcome};
use crate::spec::{IncidentSpec, Requirement};
use crate::Outcome;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Initialises tracing once per process (`INCIDENT_LOG` or `RUST_LOG`,
/// default `info` for the harness).
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("INCIDENT_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .unwrap_or_else(|_| "warn,harness=info,fixtures=info,scenarios=info".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// Why an incident cannot run here.
#[derive(Debug, Clone)]
pub struct Missing {
    /// What is missing.
    pub requirement: Requirement,
    /// The one line saying why and how to fix it.
    pub reason: String,
}

impl Missing {
    /// Whether this absence must fail the test rather than skip it.
    pub fn must_fail(&self) -> bool {
        if self.requirement.buildable_here() {
            env_flag("INCIDENT_REQUIRE_DOCKER")
        } else {
            env_flag("INCIDENT_REQUIRE_MONGO")
        }
    }
}

fn image_of(req: Requirement) -> Option<ImageId> {
    match req {
        Requirement::Docker | Requirement::Chromium => None,
        Requirement::Base => Some(ImageId::Base),
        Requirement::Toxiproxy => Some(ImageId::Toxiproxy),
        Requirement::Consul => Some(ImageId::Consul),
        Requirement::ConsulLegacy => Some(ImageId::ConsulLegacy),
        Requirement::Mongo => Some(ImageId::Mongo),
        Requirement::ChatGateway => Some(ImageId::ChatGateway),
    }
}

/// Checks what `requires` names (Docker is always needed), first missing wins.
pub async fn check_requirements(spec: &IncidentSpec) -> Option<Missing> {
    let docker = match crate::docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            return Some(Missing {
                requirement: Requirement::Docker,
                reason: e.to_string(),
            })
        }
    };
    let mut reqs = spec.requires.clone();
    // Every lab's faults use the toolbox sidecar image.
    if !reqs.contains(&Requirement::Base) {
        reqs.push(Requirement::Base);
    }
    for req in reqs {
        if req == Requirement::Chromium {
            if crate::report::chromium_path().is_none() {
                return Some(Missing {
                    requirement: req,
                    reason: "Chromium is not installed: `apt-get install chromium`".into(),
                });
            }
            continue;
        }
        let Some(id) = image_of(req) else { continue };
        let r = images::resolve(&docker, id).await;
        if !r.present {
            return Some(Missing {
                requirement: req,
                reason: format!("image `{}` is not present: {}", r.reference, id.fix()),
            });
        }
    }
    None
}

/// The body of an incident, as the attribute passes it.
pub type Body = dyn for<'a> Fn(&'a mut Lab) -> BoxFuture<'a, Outcome> + Send + Sync;

/// Runs one incident (as many times as `INCIDENT_REPEAT` says) and panics
/// if it fails. Called by the code `#[incident]` generates.
pub fn run<F>(spec: IncidentSpec, body: F)
where
    F: for<'a> Fn(&'a mut Lab) -> BoxFuture<'a, Outcome> + Send + Sync + 'static,
{
    init_tracing();
    let mut spec = spec;
    identify(
        &mut spec,
        std::thread::current().name(),
        std::env::current_exe().ok().as_deref(),
        std::env::var("CARGO_PKG_NAME").ok().as_deref(),
    );
    // Counted as failed unless it ends otherwise (a panic included).
    let mut ended = Ended::new(&spec.name);
    match resolve_mitigations(&spec) {
        Ok(m) => spec.mitigations = m,
        Err(line) => panic!("incident {}: {line}", spec.name),
    }
    spec.other_releases = other_releases(&spec.requires, |var| std::env::var(var).ok());
    let body: Arc<Body> = Arc::new(body);
    let repeat: u32 = std::env::var("INCIDENT_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("incident")
        .build()
        .expect("a tokio runtime");
    let mut recoveries = Vec::new();
    for i in 0..repeat {
        let seed = spec
            .seed
            .or_else(|| {
                std::env::var("INCIDENT_SEED")
                    .ok()
                    .and_then(|s| s.parse().ok())
            })
            .or_else(crate::report::replay::seed_for)
            .unwrap_or_else(rand::random);
        if repeat > 1 {
            loud(&format!(
                "incident {}: run {} of {repeat}",
                spec.name,
                i + 1
            ));
        }
        if i > 0 {
            // Later repetitions run in a child process of this test binary:
            // insta names a second snapshot assertion in one process `-2`,
            // so each run must start with fresh snapshot counters.
            match repeat_in_child(&spec) {
                Ok(recovery) => recoveries.push(recovery),
                Err(msg) => {
                    runtime.shutdown_timeout(Duration::from_secs(5));
                    panic!("{msg}")
                }
            }
            continue;
        }
        let slot = LabSlot::acquire();
        let result = runtime.block_on(run_once(spec.clone(), seed, body.clone()));
        drop(slot);
        match result {
            Ok(Ran::Done(report)) => recoveries.push(report.recovery_secs()),
            Ok(Ran::Skipped(reason)) => {
                ended.skipped(reason);
                return;
            }
            Err(Failure::Panic(payload)) => {
                runtime.shutdown_timeout(Duration::from_secs(5));
                std::panic::resume_unwind(payload)
            }
            Err(Failure::Message(msg)) => {
                runtime.shutdown_timeout(Duration::from_secs(5));
                panic!("{msg}")
            }
        }
    }
    if repeat > 1 {
        crate::report::repeat::record_spread(&spec.name, &recoveries);
    }
    ended.passed();
}

/// The mitigations this run has: the variant's set from the dossier's
/// names, or the one `INCIDENT_MITIGATIONS` names (one line if unknown).
pub fn resolve_mitigations(spec: &IncidentSpec) -> Result<Mitigations, String> {
    let named = crate::postmortem::Dossier::find(&spec.postmortem)
        .map(|d| d.mitigation_names())
        .unwrap_or_default();
    let value = std::env::var(crate::mitigations::ENV).ok();
    Mitigations::resolve(spec.variant.mitigations(&named), value.as_deref())
}

/// The required images whose override (read through `var`) names another
/// release than the variant's own ([`ImageId::other_release`]).
pub fn other_releases(
    requires: &[Requirement],
    var: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    requires
        .iter()
        .filter_map(|r| image_of(*r))
        .filter_map(|id| {
            let over = var(&id.env_var())?;
            (!over.trim().is_empty()).then(|| id.other_release(over.trim()))?
        })
        .collect()
}

/// What became of one incident, for the line the process ends with.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// It ran and passed.
    Passed,
    /// It failed (verdict, error, panic, timeout, leak, or a refused skip).
    Failed,
    /// It skipped, for this reason.
    Skipped(String),
}

/// The incidents this process ran, and what became of each.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Incident names and outcomes, in the order they ended.
    pub ended: Vec<(String, Ending)>,
}

impl Tally {
    /// The closing line:
    /// `incidents: N passed, N failed, N skipped (<name>: <reason>; ...)`;
    /// incidents skipped for the same reason share it (`a, b: <reason>`),
    /// in the order they ended.
    pub fn line(&self) -> String {
        let count = |o: fn(&Ending) -> bool| self.ended.iter().filter(|(_, e)| o(e)).count();
        let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, e) in &self.ended {
            if let Ending::Skipped(reason) = e {
                match reasons.iter_mut().find(|(r, _)| r == reason) {
                    Some((_, names)) => names.push(name),
                    None => reasons.push((reason, vec![name])),
                }
            }
        }
        let mut line = format!(
            "incidents: {} passed, {} failed, {} skipped",
            count(|e| *e == Ending::Passed),
            count(|e| *e == Ending::Failed),
            count(|e| matches!(e, Ending::Skipped(_)))
        );
        if !reasons.is_empty() {
            let skips: Vec<String> = reasons
                .iter()
                .map(|(reason, names)| format!("{}: {reason}", names.join(", ")))
                .collect();
            line.push_str(&format!(" ({})", skips.join("; ")));
        }
        line
    }
}

static TALLY: std::sync::Mutex<Tally> = std::sync::Mutex::new(Tally { ended: Vec::new() });

/// Set in the child processes of `INCIDENT_REPEAT`: their parent prints the line.
const NO_TALLY_ENV: &str = "INCIDENT_NO_TALLY";

/// libtest has no hook at the end of a run; the C library's `atexit`
/// runs after `main` returns and inside `std::process::exit` (how libtest
/// ends a failing run), on the main thread, whose output is not captured.
extern "C" fn print_tally() {
    // `try_lock`: never wait at exit on a thread that died holding it.
    let line = match TALLY.try_lock() {
        Ok(t) => t.line(),
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().line(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    loud(&line);
}

fn tally(name: &str, outcome: Ending) {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    if std::env::var_os(NO_TALLY_ENV).is_some() {
        return;
    }
    AT_EXIT.call_once(|| {
        // SAFETY: `print_tally` is an `extern "C" fn()` that does not
        // unwind (it only formats and writes, ignoring errors).
        unsafe {
            libc::atexit(print_tally);
        }
    });
    TALLY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ended
        .push((name.to_string(), outcome));
}

/// Counts one incident into the process's [`Tally`] when dropped: failed,
/// unless [`Ended::passed`] or [`Ended::skipped`] said otherwise.
struct Ended {
    name: String,
    outcome: Ending,
}

impl Ended {
    fn new(name: &str) -> Ended {
        Ended {
            name: name.to_string(),
            outcome: Ending::Failed,
        }
    }

    fn passed(&mut self) {
        self.outcome = Ending::Passed;
    }

    fn skipped(&mut self, reason: String) {
        self.outcome = Ending::Skipped(reason);
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        tally(&self.name, self.outcome.clone());
    }
}

/// How many incidents may hold a lab at once in this process
/// (`INCIDENT_PARALLEL`, default 1). Incidents judge timing on real
/// systems; on a small machine, two at once would measure each other.
fn lab_slots() -> &'static (std::sync::Mutex<usize>, std::sync::Condvar) {
    static SLOTS: std::sync::OnceLock<(std::sync::Mutex<usize>, std::sync::Condvar)> =
        std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let n = std::env::var("INCIDENT_PARALLEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or(1);
        (std::sync::Mutex::new(n), std::sync::Condvar::new())
    })
}

/// One of the process's lab slots, given back when dropped. A test outside
/// `#[incident]` that loads the machine (one that runs a build) holds one
/// while it does, so no incident of the same process judges timing under
/// it.
pub struct LabSlot;

impl LabSlot {
    /// Waits for a free slot (`INCIDENT_PARALLEL`, default 1) and takes it.
    pub fn acquire() -> LabSlot {
        let (lock, cvar) = lab_slots();
        let mut free = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = cvar.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        LabSlot
    }
}

impl Drop for LabSlot {
    fn drop(&mut self) {
        let (lock, cvar) = lab_slots();
        *lock.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cvar.notify_one();
    }
}

/// The libtest name of an incident: its module path without the crate, then
/// the function name (`incidents::roblox::roblox_consul_before`); see
/// [`IncidentSpec::test_path`].
pub fn libtest_name(spec: &IncidentSpec) -> String {
    spec.test_path()
}

/// Fills in, for a spec built by hand rather than by `#[incident]`, how
/// libtest and nextest name its test: the module from the test's thread
/// (libtest names it by the test's path in the binary) when that path ends
/// with the incident's name, and the binary id from the running test binary
/// (`<crate>-<hash>`) and the package cargo and nextest name in
/// `CARGO_PKG_NAME`. What the spec already says is kept.
pub fn identify(
    spec: &mut IncidentSpec,
    thread: Option<&str>,
    exe: Option<&std::path::Path>,
    package: Option<&str>,
) {
    let krate = exe
        .and_then(|e| e.file_stem())
        .and_then(|s| s.to_str())
        .map(|stem| match stem.rsplit_once('-') {
            Some((krate, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => krate,
            _ => stem,
        });
    if spec.module.is_empty() {
        let path = thread.filter(|t| {
            *t == spec.name
                || t.strip_suffix(spec.name.as_str())
                    .is_some_and(|m| m.ends_with("::"))
        });
        if let (Some(path), Some(krate)) = (path, krate) {
            spec.module = match path.rsplit_once("::") {
                Some((module, _)) => format!("{krate}::{module}"),
                None => krate.to_string(),
            };
        }
    }
    if spec.binary.is_empty() {
        if let (Some(package), Some(krate)) = (package, krate) {
            // A library's unit tests are the crate named like the package.
            let is_lib = krate == package.replace('-', "_");
            spec.binary = crate::spec::binary_id(Some(package), Some(krate), !is_lib, None);
        }
    }
}

/// Runs this incident once more in a child process of the current test
/// binary and returns its recovery time from the report it wrote.
fn repeat_in_child(spec: &IncidentSpec) -> Result<Option<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the test binary: {e}"))?;
    let status = std::process::Command::new(exe)
        .args([
            libtest_name(spec).as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("INCIDENT_REPEAT", "1")
        .env(NO_TALLY_ENV, "1")
        .status()
        .map_err(|e| format!("running a repetition of {}: {e}", spec.name))?;
    if !status.success() {
        return Err(format!(
            "incident {}: a repetition failed ({status})",
            spec.name
        ));
    }
    let path = crate::paths::artifacts_root()
        .join(&spec.name)
        .join("report.json");
    Report::read(&path)
        .map(|r| r.recovery_secs())
        .map_err(|e| format!("reading {}: {e:#}", path.display()))
}

enum Failure {
    Panic(Box<dyn std::any::Any + Send>),
    Message(String),
}

/// How a run that did not fail ended.
enum Ran {
    /// It ran; its report.
    Done(Box<Report>),
    /// It skipped, for this reason (allowed).
    Skipped(String),
}

async fn run_once(spec: IncidentSpec, seed: u64, body: Arc<Body>) -> Result<Ran, Failure> {
    if let Some(missing) = check_requirements(&spec).await {
        if missing.must_fail() {
            return Err(Failure::Message(format!(
                "incident {} cannot run: {} (required here: INCIDENT_REQUIRE_{} is set)",
                spec.name,
                missing.reason,
                if missing.requirement.buildable_here() {
                    "DOCKER"
                } else {
                    "MONGO"
                }
            )));
        }
        let test_path = spec.test_path();
        if let Some(line) = skip_refused(&[&spec.name, &test_path], &missing.reason) {
            return Err(Failure::Message(format!("incident {line}")));
        }
        loud(&format!(
            "SKIPPED incident {}: {}",
            spec.name, missing.reason
        ));
        let _ = Report::skipped(&spec, seed, &missing.reason)
            .write(&crate::paths::artifacts_root().join(&spec.name));
        return Ok(Ran::Skipped(missing.reason));
    }
    loud(&format!(
        "incident {} ({} variant of {}): seed {seed}, budget {}, timeout {}",
        spec.name,
        spec.variant,
        spec.postmortem,
        crate::duration::format(spec.budget),
        crate::duration::format(spec.timeout)
    ));
    if spec.mitigations.ablated {
        loud(&format!(
            "incident {}: mitigations {} (not the {} variant's own set: its checks judge the run, its snapshot is not asserted)",
            spec.name,
            spec.mitigations.label(),
            spec.variant
        ));
    }
    if !spec.other_releases.is_empty() {
        loud(&format!(
            "incident {}: {} (not the {} variant's own release: its checks judge the run, its snapshot is not asserted)",
            spec.name,
            spec.other_releases.join(", "),
            spec.variant
        ));
    }
    let timeout = spec.timeout;
    let mut lab = Lab::create(spec.clone(), seed)
        .await
        .map_err(|e| Failure::Message(format!("incident {}: {e}", spec.name)))?;
    let ctx = lab.ctx();
    let task = tokio::spawn(async move {
        let result = body(&mut lab).await;
        (lab, result)
    });
    let abort = task.abort_handle();
    let joined = tokio::time::timeout(timeout, task).await;
    let docker = ctx.docker().clone();
    let run_id = ctx.run_id().to_string();
    let history = ctx.with_history(|h| h.clone());
    let (report, failure) = match joined {
        Ok(Ok((lab, Ok(())))) => {
            let report = match ctx.finished() {
                Some(r) => r,
                None => ctx
                    .finish()
                    .await
                    .map_err(|e| Failure::Message(format!("writing the report: {e:#}")))?,
            };
            lab.teardown().await;
            // Undecided checks are said out loud, pass or fail.
            for line in report.not_reproduced() {
                loud(&format!("incident {}: {line}", report.incident));
            }
            let failure = (!report.passed()).then(|| {
                Failure::Message(format!(
                    "incident {} ({} variant): verdict {:?}\n{}\ntimeline:\n{}",
                    report.incident,
                    report.variant,
                    report.verdict,
                    report
                        .failures()
                        .iter()
                        .map(|f| format!("  - {f}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    crate::timeline::render(&report.timeline)
                ))
            });
            (report, failure)
        }
        Ok(Ok((lab, Err(e)))) => {
            lab.teardown().await;
            let msg = format!("{e:#}");
            let report = ctx.report(RunOutcome::Error, Some(msg.clone()));
            let failure = Failure::Message(format!(
                "incident {} failed: {msg}\ntimeline:\n{}",
                spec.name,
                ctx.timeline().render()
            ));
            (report, Some(failure))
        }
        Ok(Err(join_error)) => {
            crate::lab::teardown_run(&docker, &run_id).await;
            let report = ctx.report(
                RunOutcome::Panicked,
                Some("the incident body panicked".into()),
            );
            let failure = match join_error.try_into_panic() {
                Ok(payload) => Failure::Panic(payload),
                Err(e) => Failure::Message(format!("incident {} was cancelled: {e}", spec.name)),
            };
            (report, Some(failure))
        }
        Err(_elapsed) => {
            abort.abort();
            crate::lab::teardown_run(&docker, &run_id).await;
            let msg = format!(
                "incident {} timed out after {}; timeline so far:\n{}",
                spec.name,
                crate::duration::format(timeout),
                ctx.timeline().render()
            );
            let report = ctx.report(RunOutcome::TimedOut, Some(msg.clone()));
            (report, Some(Failure::Message(msg)))
        }
    };
    if ctx.finished().is_none() || report.outcome != RunOutcome::Completed {
        let dir = report.dir();
        let _ = history.save(&dir);
        let _ = report.write(&dir);
    }
    // A leak is a bug: anything of this run still in Docker fails the test.
    let leaks = crate::lab::teardown_run(&docker, &run_id).await;
    if let Some(f) = failure {
        return Err(f);
    }
    if !leaks.is_empty() {
        return Err(Failure::Message(format!(
            "incident {}: teardown could not remove everything: {}",
            spec.name,
            leaks.join("; ")
        )));
    }
    Ok(Ran::Done(Box::new(report)))
}

#[allow(dead_code)]
fn _assert_history_send(h: History) -> impl Send {
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Variant;

    /// A bisection step sets the before variant's Consul to another
    /// release: named, so the run's snapshot is not asserted. The same
    /// release by another name, an empty override or an image the incident
    /// does not require are not.
    #[test]
    fn an_override_to_another_release_is_recorded() {
        let requires = [Requirement::Docker, Requirement::ConsulLegacy];
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            other_releases(
                &requires,
                env(&[("INCIDENT_IMAGE_CONSUL_LEGACY", "incident/consul:1.20.1")])
            ),
            ["consul-legacy at 1.20.1 (its own: 1.10.12)"]
        );
        for same in [
            &[("INCIDENT_IMAGE_CONSUL_LEGACY", "hashicorp/consul:1.10.12")][..],
            &[("INCIDENT_IMAGE_CONSUL_LEGACY", " ")],
            &[("INCIDENT_IMAGE_CONSUL", "incident/consul:1.20.1")],
            &[],
        ] {
            let pairs: &'static [(&str, &str)] = same;
            assert!(other_releases(&requires, env(pairs)).is_empty(), "{same:?}");
        }
    }

    #[test]
    fn libtest_names_drop_the_crate() {
        let mut spec = IncidentSpec::new(
            "roblox_consul_before",
            "roblox-2021-consul",
            Variant::Before,
        );
        spec.module = "incidents::incidents::roblox".into();
        assert_eq!(
            libtest_name(&spec),
            "incidents::roblox::roblox_consul_before"
        );
        spec.module = "lab_smoke".into();
        assert_eq!(libtest_name(&spec), "roblox_consul_before");
    }

    #[test]
    fn hand_built_specs_get_libtests_names_from_the_running_test() {
        let exe = std::path::Path::new("/t/debug/deps/incidents-b2cab2518da55120");
        let mut spec = IncidentSpec::new("smoke_leaves_nothing_behind", "smoke", Variant::After);
        identify(
            &mut spec,
            Some("incidents::smoke::smoke_leaves_nothing_behind"),
            Some(exe),
            Some("incident-suite"),
        );
        assert_eq!(spec.module, "incidents::incidents::smoke");
        assert_eq!(
            spec.test_path(),
            "incidents::smoke::smoke_leaves_nothing_behind"
        );
        assert_eq!(spec.binary, "incident-suite::incidents");

        // Run from a test of another name: no test path to borrow.
        let mut other = IncidentSpec::new("reports_echo_replay", "harness-echo", Variant::After);
        identify(
            &mut other,
            Some("incidents::reports::a_replay_reruns_it"),
            Some(exe),
            Some("incident-suite"),
        );
        assert_eq!(other.module, "");
        assert_eq!(other.test_path(), "reports_echo_replay");
        assert_eq!(other.binary, "incident-suite::incidents");
        let mut suffix = IncidentSpec::new("replay", "p", Variant::After);
        identify(&mut suffix, Some("x::echo_replay"), Some(exe), None);
        assert_eq!(suffix.module, "", "a name's suffix is not the name");
        assert_eq!(suffix.binary, "", "no package, no binary id");

        // A library's unit tests; a test at the crate root.
        let mut lib = IncidentSpec::new("t", "p", Variant::After);
        identify(
            &mut lib,
            Some("t"),
            Some(std::path::Path::new("/d/harness-0123456789abcdef")),
            Some("harness"),
        );
        assert_eq!(
            (lib.module.as_str(), lib.binary.as_str()),
            ("harness", "harness")
        );

        // What the attribute set is kept.
        let mut set = IncidentSpec::new("t", "p", Variant::After);
        set.module = "m::n".into();
        set.binary = "pkg::m".into();
        identify(
            &mut set,
            Some("other::t"),
            Some(exe),
            Some("incident-suite"),
        );
        assert_eq!(
            (set.module.as_str(), set.binary.as_str()),
            ("m::n", "pkg::m")
        );
    }

    #[test]
    fn the_closing_line_counts_and_names_each_skip_with_its_reason() {
        let t = Tally {
            ended: vec![
                ("a_after".into(), Ending::Passed),
                (
                    "m_before".into(),
                    Ending::Skipped(
                        "image `mongo:7.0` is not present: docker pull mongo:7.0".into(),
                    ),
                ),
                ("b_after".into(), Ending::Failed),
                ("c_after".into(), Ending::Passed),
                (
                    "f_after".into(),
                    Ending::Skipped("Chromium is not installed".into()),
                ),
                (
                    "n_after".into(),
                    Ending::Skipped(
                        "image `mongo:7.0` is not present: docker pull mongo:7.0".into(),
                    ),
                ),
            ],
        };
        assert_eq!(
            t.line(),
            "incidents: 2 passed, 1 failed, 3 skipped (m_before, n_after: image `mongo:7.0` is not present: docker pull mongo:7.0; f_after: Chromium is not installed)"
        );
        assert_eq!(
            Tally::default().line(),
            "incidents: 0 passed, 0 failed, 0 skipped"
        );
    }
}
