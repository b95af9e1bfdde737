//! The Go toolchains image builds compile with.
//!
//! Each Go image pins its toolchain (e.g. `go1.22.12` for old Consul,
//! whose dependencies use `//go:linkname` tricks Go 1.23+ refuses). The
//! toolchain is fetched through the Go module proxy as the module
//! `golang.org/toolchain@v0.0.1-<version>.linux-<arch>`, the same thing
//! `GOTOOLCHAIN=auto` does, but done by hand so that any host Go able to
//! run `go mod download` works, including Debian bookworm's Go 1.19, which
//! predates toolchain switching.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Go looks for modules and build results: persistent, so rebuilds
/// are fast.
#[derive(Clone, Debug)]
pub struct GoEnv {
    /// `GOPATH` (the module cache lives in `GOPATH/pkg/mod`).
    pub gopath: PathBuf,
    /// `GOCACHE`.
    pub gocache: PathBuf,
}

impl GoEnv {
    /// Go directories under the image cache directory.
    pub fn under(cache: &Path) -> Self {
        Self {
            gopath: cache.join("go/path"),
            gocache: cache.join("go/cache"),
        }
    }

    /// A `go` command with this environment. `GOTOOLCHAIN=local` because
    /// the toolchain is chosen by [`toolchain`]; the nested Consul modules
    /// are not in the checksum database, hence `GONOSUMDB`.
    pub fn command(&self, go: &Path) -> Command {
        let mut cmd = Command::new(go);
        // Each toolchain finds its own root next to its binary.
        cmd.env_remove("GOROOT")
            .env("GOPATH", &self.gopath)
            .env("GOMODCACHE", self.gopath.join("pkg/mod"))
            .env("GOCACHE", &self.gocache)
            .env("GOFLAGS", "-mod=mod -buildvcs=false")
            .env("GOTOOLCHAIN", "local")
            .env("GONOSUMDB", "github.com/hashicorp/consul")
            .env("CGO_ENABLED", "0");
        cmd
    }
}

/// The host's `go`: on `PATH`, or in the usual install places. When there
/// is none and we are root, installs Debian's `golang-go`.
pub fn host_go() -> anyhow::Result<PathBuf> {
    if let Some(go) = find_host_go() {
        return Ok(go);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("no Go toolchain found: install one (`apt-get install -y golang-go` as root, or Go from go.dev into /usr/local/go)");
    }
    eprintln!("no `go` found: installing Debian's golang-go");
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "golang-go"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("`apt-get install -y golang-go` failed: run `apt-get update` and retry");
    }
    find_host_go().context("golang-go is installed but no `go` binary was found")
}

fn find_host_go() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let go = dir.join("go");
            if go.is_file() {
                return Some(go);
            }
        }
    }
    ["/usr/local/go/bin/go", "/usr/lib/go/bin/go"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The `GOARCH` of this machine.
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The `go` binary of toolchain `version` (e.g. `go1.22.12`), downloaded
/// through the module proxy into the module cache on first use.
pub fn toolchain(env: &GoEnv, host_go: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let module = format!("golang.org/toolchain@v0.0.1-{version}.linux-{}", goarch());
    let scratch = tempdir("go-toolchain")?;
    let out = env
        .command(host_go)
        .args(["mod", "download", "-json", &module])
        .current_dir(&scratch)
        .output()
        .with_context(|| format!("running {}", host_go.display()))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(dir) = json.get("Dir").and_then(|d| d.as_str()) else {
        bail!(
            "could not download Go toolchain {module} through the module proxy ({}): check GOPROXY reaches proxy.golang.org\n{}",
            json.get("Error").and_then(|e| e.as_str()).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = PathBuf::from(dir);
    // Module zips do not keep file modes; `go` itself sets these bits
    // when it switches toolchains.
    make_executable(&dir.join("bin"))?;
    make_executable(&dir.join("pkg/tool"))?;
    let go = dir.join("bin/go");
    let version_out = Command::new(&go)
        .arg("version")
        .env("GOTOOLCHAIN", "local")
        .output()
        .with_context(|| format!("running {}", go.display()))?;
    let printed = String::from_utf8_lossy(&version_out.stdout);
    if !printed.contains(&format!("{version} ")) {
        bail!(
            "{} printed `{}`, expected {version}",
            go.display(),
            printed.trim()
        );
    }
    Ok(go)
}

fn make_executable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            make_executable(&path)?;
        } else {
            let mut perms = entry.metadata()?.permissions();
            if perms.mode() & 0o111 == 0 {
                perms.set_mode(perms.mode() | 0o555);
                std::fs::set_permissions(&path, perms)?;
            }
        }
    }
    Ok(())
}

/// A fresh empty directory under the system temp dir.
pub(crate) fn tempdir(what: &str) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("incident-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goarch_is_a_go_name() {
        assert!(!goarch().is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(goarch(), "amd64");
        }
    }
}
