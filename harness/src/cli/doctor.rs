//! `incident doctor`: can this machine run the suite?
//!
//! A table of checks (Docker, cgroup limits, an iptables sidecar, images,
//! host size, free disk); each failing check gets one line naming the fix,
//! and the exit code is non-zero when any check fails. Warnings (MongoDB
//! absent, a small host) do not fail. `--format json` prints the same
//! checks as one JSON document, for CI dashboards and provisioning scripts. What the checks create goes through a
//! [`Lab`], so it is labelled with a run id and removed afterwards.
//!
//! One concept, one file: the list of checks and their one-line fixes;
//! about a fifth of it is their tests.

use crate::cli::images::{human_size, source_word};
use crate::images::{self, ImageId};
use crate::lab::{ContainerSpec, Lab};
use crate::spec::{IncidentSpec, Variant};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

/// Options of `incident doctor`.
#[derive(clap::Args, Debug, Default)]
pub struct DoctorArgs {
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// How the doctor prints its checks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The table, fix lines and verdict, for people.
    #[default]
    Table,
    /// `{"ready": bool, "checks": [{"name", "status", "detail", "fix"}]}`.
    Json,
}

/// The cores the suite needs (the heavy incidents run 3-5 servers).
pub const NEEDED_CORES: usize = 2;
/// The memory the suite wants, in bytes; below it is a warning.
pub const WANTED_MEMORY: u64 = 8 * 1024 * 1024 * 1024;
/// The memory below which the suite cannot run, in bytes.
pub const NEEDED_MEMORY: u64 = 4 * 1024 * 1024 * 1024;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, with a caveat (does not fail `doctor`).
    Warn,
    /// The suite cannot run as intended.
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One row of the doctor's table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The outcome.
    #[serde(rename = "status")]
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// The one-line fix, for warnings and failures.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(
        level: Level,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            level,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs the checks; returns the process exit code.
pub fn run(args: &DoctorArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new()?;
    let docker = match runtime.block_on(crate::docker::connect()) {
        Ok(docker) => docker,
        Err(e) => {
            // No Docker: nothing else can be checked. One line, the fix in
            // it (in JSON, that line is the one failed check).
            if args.format == Format::Json {
                let check = Check::bad(Level::Fail, "docker", format!("{e}"), format!("{e}"));
                println!("{}", render_json(&[check]));
            } else {
                eprintln!("{e}");
            }
            return Ok(1);
        }
    };
    let checks = runtime.block_on(checks(&docker));
    match args.format {
        Format::Table => print!("{}", render(&checks)),
        Format::Json => println!("{}", render_json(&checks)),
    }
    Ok(exit_code(&checks))
}

/// The checks as one JSON document: `ready` (no check failed), `failed`,
/// `warned`, and every check with its status, detail and fix.
pub fn render_json(checks: &[Check]) -> String {
    let doc = serde_json::json!({
        "ready": exit_code(checks) == 0,
        "failed": checks.iter().filter(|c| c.level == Level::Fail).count(),
        "warned": checks.iter().filter(|c| c.level == Level::Warn).count(),
        "checks": checks,
    });
    serde_json::to_string_pretty(&doc).expect("checks serialize")
}

/// 1 when any check failed, else 0.
pub fn exit_code(checks: &[Check]) -> i32 {
    i32::from(checks.iter().any(|c| c.level == Level::Fail))
}

/// The table, then one line per warning or failure naming its fix, then
/// the verdict.
pub fn render(checks: &[Check]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["check", "status", "detail"]);
    for c in checks {
        table.add_row([c.name.as_str(), c.level.word(), c.detail.as_str()]);
    }
    let mut out = format!("{table}\n");
    for c in checks {
        if let Some(fix) = &c.fix {
            let tag = if c.level == Level::Fail {
                "fix"
            } else {
                "note"
            };
            out.push_str(&format!("{tag} {}: {fix}\n", c.name));
        }
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warned = checks.iter().filter(|c| c.level == Level::Warn).count();
    out.push_str(&if failed == 0 {
        format!("doctor: ready ({warned} warning(s))\n")
    } else {
        format!("doctor: {failed} check(s) failed, {warned} warning(s)\n")
    });
    out
}

/// Judges the host's size against what the suite needs.
pub fn host_check(cores: usize, memory: u64) -> Check {
    let detail = format!(
        "{cores} cores, {:.1} GiB memory",
        memory as f64 / (1u64 << 30) as f64
    );
    let need = format!(
        "the suite needs {NEEDED_CORES} cores and {} GiB (wants {} GiB)",
        NEEDED_MEMORY >> 30,
        WANTED_MEMORY >> 30
    );
    if cores < NEEDED_CORES || memory < NEEDED_MEMORY {
        Check::bad(
            Level::Fail,
            "host size",
            detail,
            format!("use a bigger machine: {need}"),
        )
    } else if memory < WANTED_MEMORY {
        Check::bad(
            Level::Warn,
            "host size",
            detail,
            format!("heavy incidents may miss their budgets: {need}"),
        )
    } else {
        Check::ok("host size", detail)
    }
}

/// The free disk a run needs where its artifacts and Docker's data go
/// (reports, histories, container layers, tmpfs spill): below it a run can
/// fail half-way with "no space left on device".
pub const NEEDED_RUN_DISK: u64 = 2 * 1024 * 1024 * 1024;

/// Judges the free space under `path` (`what`: "artifacts", "Docker data").
pub fn disk_check(what: &str, path: &std::path::Path, free: Option<u64>) -> Check {
    let name = format!("disk for {what}");
    match free {
        None => Check::bad(
            Level::Warn,
            name,
            format!("could not read the free space of {}", path.display()),
            "check `df -h` by hand",
        ),
        Some(free) if free < NEEDED_RUN_DISK => Check::bad(
            Level::Fail,
            name,
            format!("{} free on {}", human_size(free as i64), path.display()),
            format!(
                "free at least {} there (`cargo clean`, `docker system prune`), or move it to a bigger disk",
                human_size(NEEDED_RUN_DISK as i64)
            ),
        ),
        Some(free) => Check::ok(name, format!("{} free on {}", human_size(free as i64), path.display())),
    }
}

/// Free bytes on the filesystem holding `path` (its nearest existing
/// ancestor), for an unprivileged user.
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Judges one resolved image: missing MongoDB is a warning, any other
/// missing image a failure with the command that builds it.
pub fn image_check(r: &images::Resolved) -> Check {
    let name = format!("image {}", r.id.name());
    if r.present {
        let size = r.size.map(human_size).unwrap_or_else(|| "?".into());
        return Check::ok(
            name,
            format!("{} ({}, {size})", r.reference, source_word(r.source)),
        );
    }
    let level = if r.id == ImageId::Mongo {
        Level::Warn
    } else {
        Level::Fail
    };
    Check::bad(level, name, format!("{} missing", r.reference), r.id.fix())
}

/// The `docker` check's detail: the engine, the API version it answers
/// at, and that the client sends none (bollard 0.21 drops it from every
/// URL, see [`crate::docker`]), so no version is negotiated.
pub fn engine_line(version: Option<&str>, api: Option<&str>, endpoint: &str) -> String {
    format!(
        "Engine {} at {endpoint}, answering at its API {}; the client sends no API version (bollard 0.21), so none is negotiated",
        version.unwrap_or("(version unknown)"),
        api.unwrap_or("(unknown)")
    )
}

async fn checks(docker: &bollard::Docker) -> Vec<Check> {
    let mut out = Vec::new();
    let version = docker.version().await.ok();
    let info = docker.info().await.ok();
    out.push(Check::ok(
        "docker",
        engine_line(
            version.as_ref().and_then(|v| v.version.as_deref()),
            version.as_ref().and_then(|v| v.api_version.as_deref()),
            &crate::docker::endpoint(),
        ),
    ));
    if let Some(info) = &info {
        let mut missing = Vec::new();
        if info.memory_limit != Some(true) {
            missing.push("memory");
        }
        if info.pids_limit != Some(true) {
            missing.push("pids");
        }
        if !missing.is_empty() {
            out.push(Check::bad(
                Level::Fail,
                "cgroup controllers",
                format!("Docker reports no {} limit support", missing.join(", ")),
                "enable the memory and pids cgroup controllers (kernel `cgroup_enable=memory swapaccount=1`, or a cgroup v2 host)",
            ));
        }
    }

    let mut resolved = Vec::new();
    for id in ImageId::ALL {
        resolved.push(images::resolve(docker, *id).await);
    }
    let base = resolved
        .iter()
        .find(|r| r.id == ImageId::Base && r.present)
        .map(|r| r.reference.clone());
    match base {
        Some(base) => out.extend(container_checks(&base).await),
        None => {
            for name in ["cgroup limits", "iptables sidecar"] {
                out.push(Check::bad(
                    Level::Fail,
                    name,
                    "not checked: the base image is missing",
                    ImageId::Base.fix(),
                ));
            }
        }
    }
    out.extend(resolved.iter().map(image_check));

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.push(host_check(cores, mem_total().unwrap_or(0)));
    let artifacts = crate::paths::artifacts_root();
    out.push(disk_check("artifacts", &artifacts, free_bytes(&artifacts)));
    // Docker's data directory is only readable where the engine runs on
    // this host (the usual case: a local socket).
    if let Some(root) = info.as_ref().and_then(|i| i.docker_root_dir.clone()) {
        let root = std::path::PathBuf::from(root);
        if root.exists() {
            out.push(disk_check("Docker data", &root, free_bytes(&root)));
        }
    }
    out
}

/// A tiny limited container and an iptables sidecar in its network
/// namespace, in a lab of their own (labelled, torn down after).
async fn container_checks(base: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let lab = match Lab::create(IncidentSpec::new("doctor", "doctor", Variant::After), 0).await {
        Ok(lab) => lab,
        Err(e) => {
            for name in ["cgroup limits", "iptables sidecar"] {
                out.push(Check::bad(
                    Level::Fail,
                    name,
                    format!("could not create a lab: {e}"),
                    "check `docker network create` works (free address pools, iptables)",
                ));
            }
            return out;
        }
    };
    const MEMORY: i64 = 64 * 1024 * 1024;
    const PIDS: i64 = 64;
    let node = lab
        .container(
            ContainerSpec::new("doctor", base)
                .with_cmd(["sleep", "infinity"])
                .with_memory_limit(MEMORY)
                .with_pids_limit(PIDS),
        )
        .await;
    match &node {
        Err(e) => out.push(Check::bad(
            Level::Fail,
            "cgroup limits",
            format!("a container with --memory/--pids-limit did not start: {e:#}"),
            "enable the memory and pids cgroup controllers for Docker",
        )),
        Ok(node) => {
            let read = lab
                .exec(
                    node,
                    &[
                        "sh",
                        "-c",
                        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes \
                         /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null",
                    ],
                )
                .await;
            let seen = read.map(|o| o.stdout).unwrap_or_default();
            let lines: Vec<&str> = seen.lines().map(str::trim).collect();
            let memory_ok = lines.contains(&MEMORY.to_string().as_str());
            let pids_ok = lines.contains(&PIDS.to_string().as_str());
            if memory_ok && pids_ok {
                out.push(Check::ok(
                    "cgroup limits",
                    "a container sees its 64 MiB memory and 64 pids limits",
                ));
            } else {
                out.push(Check::bad(
                    Level::Fail,
                    "cgroup limits",
                    format!(
                        "limits not in effect (memory {}, pids {}); the container saw {:?}",
                        if memory_ok { "ok" } else { "missing" },
                        if pids_ok { "ok" } else { "missing" },
                        lines
                    ),
                    "enable the memory and pids cgroup controllers (kernel `cgroup_enable=memory`, or a cgroup v2 host)",
                ));
            }
            out.push(sidecar_check(&lab, node, base).await);
        }
    }
    let leaks = lab.teardown().await;
    if !leaks.is_empty() {
        out.push(Check::bad(
            Level::Fail,
            "cleanup",
            format!("teardown left {leaks:?}"),
            "remove them with `docker rm -f` and report a harness bug",
        ));
    }
    out
}

async fn sidecar_check(lab: &Lab, node: &crate::lab::Node, base: &str) -> Check {
    let fix = "load the iptables kernel modules (`modprobe ip_tables iptable_filter`) and install iptables on the host";
    let sidecar = lab
        .container(
            ContainerSpec::new("doctor-sidecar", base)
                .with_cmd(["sleep", "infinity"])
                .with_network_of(&node.id)
                .with_cap_add("NET_ADMIN"),
        )
        .await;
    let sidecar = match sidecar {
        Ok(s) => s,
        Err(e) => {
            return Check::bad(
                Level::Fail,
                "iptables sidecar",
                format!("a sidecar in the node's network namespace did not start: {e:#}"),
                fix,
            )
        }
    };
    // Add and delete a rule: listing alone would pass without a working
    // filter table.
    let script = "iptables -A INPUT -p tcp --dport 9 -j DROP && iptables -L INPUT -n && iptables -D INPUT -p tcp --dport 9 -j DROP";
    match lab.exec(&sidecar, &["sh", "-c", script]).await {
        Ok(o) if o.exit_code == 0 && o.stdout.contains("dpt:9") => Check::ok(
            "iptables sidecar",
            "a NET_ADMIN sidecar sharing a node's netns adds and removes a rule",
        ),
        Ok(o) => Check::bad(
            Level::Fail,
            "iptables sidecar",
            format!("iptables exited {}: {}", o.exit_code, o.stderr.trim()),
            fix,
        ),
        Err(e) => Check::bad(Level::Fail, "iptables sidecar", format!("{e:#}"), fix),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::{Resolved, Source};

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_docker_line_gives_the_engines_api_and_says_the_client_sends_none() {
        let line = engine_line(
            Some("20.10.24+dfsg1"),
            Some("1.41"),
            "unix:///var/run/docker.sock",
        );
        assert_eq!(
            line,
            "Engine 20.10.24+dfsg1 at unix:///var/run/docker.sock, answering at its API 1.41; the client sends no API version (bollard 0.21), so none is negotiated"
        );
        assert!(
            !line.contains("1.53"),
            "bollard's unsent number is not shown"
        );
        assert!(engine_line(None, None, "x").contains("API (unknown)"));
    }

    #[test]
    fn host_size_fails_below_the_minimum_and_warns_below_the_want() {
        assert_eq!(host_check(2, 24 * GIB).level, Level::Ok);
        assert_eq!(host_check(2, 6 * GIB).level, Level::Warn);
        assert_eq!(host_check(1, 24 * GIB).level, Level::Fail);
        assert_eq!(host_check(4, 2 * GIB).level, Level::Fail);
    }

    #[test]
    fn json_output_has_every_check_and_the_verdict() {
        let checks = [
            Check::ok("docker", "Engine 20.10"),
            Check::bad(Level::Fail, "image consul", "missing", "run `images build`"),
        ];
        let v: serde_json::Value = serde_json::from_str(&render_json(&checks)).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["fix"], "run `images build`");
        assert_eq!(v["checks"][0]["fix"], serde_json::Value::Null);
        let ok: serde_json::Value = serde_json::from_str(&render_json(&checks[..1])).unwrap();
        assert_eq!(ok["ready"], true);
    }

    #[test]
    fn too_little_disk_fails_with_the_fix_and_the_path() {
        let p = std::path::Path::new("/work/target/incidents");
        let low = disk_check("artifacts", p, Some(GIB / 2));
        assert_eq!(low.level, Level::Fail);
        assert!(
            low.detail.contains("/work/target/incidents"),
            "{}",
            low.detail
        );
        assert!(low.fix.unwrap().contains("cargo clean"));
        assert_eq!(disk_check("artifacts", p, Some(40 * GIB)).level, Level::Ok);
        assert_eq!(disk_check("artifacts", p, None).level, Level::Warn);
        assert!(free_bytes(std::path::Path::new("/definitely/not/here")).is_some());
    }

    fn missing(id: ImageId) -> Resolved {
        Resolved {
            id,
            reference: id.local().or(id.official()).unwrap(),
            source: if id.local().is_some() {
                Source::Local
            } else {
                Source::Official
            },
            present: false,
            digest: None,
            size: None,
        }
    }

    #[test]
    fn a_missing_image_names_its_build_command_and_mongo_only_warns() {
        let consul = image_check(&missing(ImageId::Consul));
        assert_eq!(consul.level, Level::Fail);
        assert!(consul
            .fix
            .unwrap()
            .contains("incident -- images build --only consul"));
        let mongo = image_check(&missing(ImageId::Mongo));
        assert_eq!(mongo.level, Level::Warn);
        assert!(mongo.fix.unwrap().contains("docker pull mongo:7.0"));
        let present = image_check(&Resolved {
            present: true,
            size: Some(11_206_818),
            ..missing(ImageId::Toxiproxy)
        });
        assert_eq!(present.level, Level::Ok);
        assert!(
            present.detail.contains("local, 11.2 MB"),
            "{}",
            present.detail
        );
    }

    #[test]
    fn rendering_lists_one_fix_line_per_problem_and_the_verdict() {
        let checks = vec![
            Check::ok("docker", "Engine 20.10"),
            Check::bad(
                Level::Warn,
                "image mongo",
                "mongo:7.0 missing",
                "docker pull mongo:7.0",
            ),
            Check::bad(
                Level::Fail,
                "image base",
                "missing",
                "run `incident images build`",
            ),
        ];
        let text = render(&checks);
        assert!(
            text.contains("note image mongo: docker pull mongo:7.0"),
            "{text}"
        );
        assert!(
            text.contains("fix image base: run `incident images build`"),
            "{text}"
        );
        assert!(text.contains("1 check(s) failed, 1 warning(s)"), "{text}");
        assert_eq!(text.matches("fix ").count(), 1);
        assert_eq!(exit_code(&checks), 1);
        assert_eq!(exit_code(&checks[..2]), 0);
        assert!(render(&checks[..2]).contains("doctor: ready (1 warning(s))"));
    }
}
