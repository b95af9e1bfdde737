//! `scripts/setup` compiles the `incident` CLI with cargo's progress shown
//! (a plain `cargo build`, announced by a log line) before running it to
//! build the images, installs cargo-insta at Cargo.lock's insta version
//! unless it is there, and stops at the first failing step.
//!
//! The script runs for real, against stubs of the programs it calls
//! (`id`, `dpkg-query`, `docker`, `cargo`, ...) first on `PATH`: each
//! appends its command line to a log, so nothing is installed, started or
//! built.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stub(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/usr/bin/env bash\necho \"{name} $*\" >>\"$STUB_LOG\"\n{body}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `scripts/setup` with stubs; `cargo_build_fails` makes the stubbed
/// `cargo build` exit 1. Returns its output and the stubs' log.
fn setup(case: &str, cargo_build_fails: bool) -> (Output, Vec<String>) {
    setup_with_disk(case, cargo_build_fails, 200 << 20, "")
}

/// [`setup`] on a disk with `free_kib` KiB available (a stubbed `df`),
/// the stubbed `cargo insta --version` printing `insta` (empty: not
/// installed).
fn setup_with_disk(
    case: &str,
    cargo_build_fails: bool,
    free_kib: u64,
    insta: &str,
) -> (Output, Vec<String>) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("setup-script-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    stub(&bin, "id", "echo 0");
    stub(&bin, "dpkg-query", "echo 'install ok installed'");
    stub(&bin, "go", "");
    stub(
        &bin,
        "df",
        &format!(
            "echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'; echo \"/dev/vda 999 1 {free_kib} 1% /work\""
        ),
    );
    stub(&bin, "apt-get", "");
    stub(&bin, "dockerd", "");
    stub(&bin, "docker", "echo '20.10.24, API 1.41'");
    stub(
        &bin,
        "cargo",
        &format!(
            "if [ \"$1\" = build ]; then echo '   Compiling harness v0.1.0' >&2; exit {}; fi\nif [ \"$1 $2\" = 'insta --version' ]; then [ -n '{insta}' ] || exit 101; echo '{insta}'; fi",
            u8::from(cargo_build_fails)
        ),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/setup");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(script)
        .env("PATH", path)
        .env("STUB_LOG", &log)
        .env("CARGO_TARGET_DIR", dir.join("no-target-yet"))
        .output()
        .expect("bash runs scripts/setup");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (out, calls)
}

fn cargo_calls(calls: &[String]) -> Vec<&str> {
    calls
        .iter()
        .filter(|c| c.starts_with("cargo "))
        .map(String::as_str)
        .collect()
}

#[test]
fn setup_compiles_the_cli_with_progress_before_building_images() {
    let (out, calls) = setup("ok", false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        cargo_calls(&calls),
        vec![
            "cargo build -p harness --bin incident".to_string(),
            "cargo insta --version".into(),
            format!(
                "cargo install cargo-insta --version {} --locked",
                lock_insta()
            ),
            "cargo run -q -p harness --bin incident -- images build".into(),
        ],
        "a plain (not -q) build first, cargo-insta at the lock's insta, then the CLI"
    );
    assert!(
        stderr.contains("Compiling harness"),
        "cargo's progress reaches the terminal: {stderr}"
    );
    let announce = stdout
        .lines()
        .position(|l| l.contains("compiling the incident CLI"))
        .unwrap_or_else(|| panic!("a log line says what compiles and why: {stdout}"));
    let images = stdout
        .lines()
        .position(|l| l.contains("building images"))
        .expect("then the images");
    assert!(announce < images, "{stdout}");
    assert!(stdout.contains("which builds the images"), "{stdout}");
}

/// The insta version Cargo.lock pins.
fn lock_insta() -> String {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .unwrap();
    let (_, rest) = lock.split_once("name = \"insta\"\nversion = \"").unwrap();
    rest.split('"').next().unwrap().to_string()
}

#[test]
fn setup_keeps_a_cargo_insta_of_the_locks_version_and_replaces_another() {
    let (out, calls) = setup_with_disk(
        "insta-present",
        false,
        200 << 20,
        &format!("cargo-insta {}", lock_insta()),
    );
    assert!(out.status.success());
    assert!(
        !cargo_calls(&calls)
            .iter()
            .any(|c| c.starts_with("cargo install")),
        "{calls:?}"
    );
    let (out, calls) = setup_with_disk("insta-old", false, 200 << 20, "cargo-insta 1.26.0");
    assert!(out.status.success());
    assert!(
        cargo_calls(&calls).contains(
            &format!(
                "cargo install cargo-insta --version {} --locked",
                lock_insta()
            )
            .as_str()
        ),
        "{calls:?}"
    );
}

#[test]
fn setup_stops_when_the_cli_does_not_compile() {
    let (out, calls) = setup("fails", true);
    assert!(!out.status.success(), "set -e: a failed build fails setup");
    assert_eq!(
        cargo_calls(&calls),
        vec!["cargo build -p harness --bin incident"],
        "the images are not attempted"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("building images"));
}

#[test]
fn setup_refuses_a_disk_too_small_in_one_line_before_doing_anything() {
    let (out, calls) = setup_with_disk("small-disk", false, 3 << 20, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a too-small disk fails setup");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one plain line: {stderr}");
    assert!(
        lines[0].contains("on /work, which has 3 GiB free")
            && lines[0].contains("CARGO_TARGET_DIR"),
        "{stderr}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("apt-get")
            || c.starts_with("cargo")
            || c.starts_with("dockerd")),
        "nothing installed, started or built: {calls:?}"
    );
}
