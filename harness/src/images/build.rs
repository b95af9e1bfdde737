//! Offline image builds (see `incident images build`).
//!
//! One concept, one file: the offline build of every image, one recipe
//! each over the shared content-addressed steps.
//!
//! Every image is content-addressed: its inputs (recipe text, versions,
//! package lists, sources) hash to a digest stored on the image as the
//! [`INPUTS_LABEL`] label, and an image whose label matches is up to date.
//! Nothing here needs an image registry:
//!
//! - `base` and `toolbox`: `debootstrap --variant=minbase` of Debian
//!   bookworm, trimmed, tarred (the tarball is cached by digest) and
//!   `docker import`ed.
//! - `toxiproxy`, `consul`, `consul-legacy`: `go build` of the published Go
//!   module with a pinned Go toolchain (see [`super::go`]), then a small
//!   Dockerfile (`harness/images/*.Dockerfile`).
//! - `chat-gateway`: `cargo build --release` of this workspace's gateway on
//!   the base image.
//!
//! Caches (Debian packages, rootfs tarballs, Go modules and build cache,
//! logs) live in [`cache_dir`].

use super::consul::{self, Recipe};
use super::go::{self, GoEnv};
use super::inputs::{path_crates, Inputs, INPUTS_LABEL};
use super::{ImageId, CONSUL_LEGACY_VERSION, CONSUL_VERSION, TOXIPROXY_VERSION};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bumped when the build logic itself changes in a way the recipe texts do
/// not show, so every image is rebuilt once.
const RECIPE_REVISION: &str = "1";

/// The Debian release and mirror the root filesystems come from.
const DEBIAN_SUITE: &str = "bookworm";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// Packages of `incident/base` (on top of minbase).
pub const BASE_PACKAGES: &[&str] = &[
    "bash",
    "iproute2",
    "iptables",
    "procps",
    "ca-certificates",
    "netcat-openbsd",
    "curl",
];

/// Extra packages of `incident/toolbox`: `stress-ng` for CPU, memory and
/// I/O hogs with exact sizes (`--vm-bytes`), `iputils-ping` and
/// `dnsutils` to probe reachability and name resolution from a sidecar.
/// Network faults themselves need only iptables/iproute2 (already in base).
pub const TOOLBOX_EXTRA_PACKAGES: &[&str] = &["stress-ng", "iputils-ping", "dnsutils"];

/// Removed from a debootstrapped root before it is tarred: package caches,
/// apt lists and documentation are dead weight in a test image.
const ROOTFS_TRIM: &str =
    "rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* \
     usr/share/doc/* usr/share/man/* usr/share/info/* var/log/*.log etc/hostname";

/// The Go toolchain of the current Toxiproxy and Consul builds.
pub const GO_TOOLCHAIN: &str = "go1.26.8";
/// The Go toolchain of the legacy Consul build: Go 1.23+ refuses the
/// `//go:linkname` references its old dependencies make.
pub const GO_TOOLCHAIN_LEGACY: &str = "go1.22.12";

const TOXIPROXY_DOCKERFILE: &str = include_str!("../../images/toxiproxy.Dockerfile");
const CONSUL_DOCKERFILE: &str = include_str!("../../images/consul.Dockerfile");
const GATEWAY_DOCKERFILE: &str = include_str!("../../images/chat-gateway.Dockerfile");

/// What `incident images build` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Only this image (its dependencies are built too when stale).
    pub only: Option<ImageId>,
    /// Re-make the image even when its label matches its inputs. The
    /// intermediate artifacts cached under the same digest (rootfs
    /// tarball, Go binary) are reused; delete [`cache_dir`] for a cold build.
    pub force: bool,
}

/// How one image's build went.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Built now.
    Built,
    /// Its label matched its inputs; nothing done.
    UpToDate,
    /// The build failed (the error, with the log's tail and path).
    Failed(String),
}

impl Status {
    /// The word shown in the summary table.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Built => "built",
            Status::UpToDate => "up-to-date",
            Status::Failed(_) => "failed",
        }
    }
}

/// One row of the build summary.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Which image.
    pub id: ImageId,
    /// Its local reference.
    pub reference: String,
    /// What happened.
    pub status: Status,
    /// Wall time spent on it.
    pub duration: Duration,
    /// Its size in bytes, when present.
    pub size: Option<i64>,
}

/// Where caches live: `INCIDENT_CACHE`, else `/var/cache/incident` for
/// root, else `~/.cache/incident-harness`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INCIDENT_CACHE") {
        return PathBuf::from(dir);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/incident");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache/incident-harness")
}

/// The workspace root (where `Cargo.lock` and `gateway/` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate lives in the workspace")
        .to_path_buf()
}

/// The images `incident images build` can make, in build order.
pub fn buildable() -> Vec<ImageId> {
    ImageId::ALL
        .iter()
        .copied()
        .filter(|id| id.local().is_some())
        .collect()
}

/// The images `id`'s build starts FROM.
fn dependencies(id: ImageId) -> &'static [ImageId] {
    match id {
        ImageId::Consul | ImageId::ConsulLegacy | ImageId::ChatGateway => &[ImageId::Base],
        _ => &[],
    }
}

/// The digest of `id`'s inputs.
pub fn inputs_digest(id: ImageId) -> anyhow::Result<String> {
    let mut inputs = Inputs::new();
    inputs
        .add("revision", RECIPE_REVISION)
        .add("image", id.name());
    for dep in dependencies(id) {
        inputs.add(dep.name(), inputs_digest(*dep)?);
    }
    match id {
        ImageId::Base | ImageId::Toolbox => {
            inputs
                .add("suite", DEBIAN_SUITE)
                .add("packages", rootfs_packages(id).join(","))
                .add("trim", ROOTFS_TRIM);
        }
        ImageId::Toxiproxy => {
            inputs
                .add("version", TOXIPROXY_VERSION)
                .add("toolchain", GO_TOOLCHAIN)
                .add("ldflags", toxiproxy_ldflags())
                .add("dockerfile", TOXIPROXY_DOCKERFILE);
        }
        ImageId::Consul | ImageId::ConsulLegacy => {
            let (version, toolchain) = consul_version(id);
            inputs
                .add("version", version)
                .add("toolchain", toolchain)
                .add("ldflags", consul_ldflags(id))
                .add("pins", consul_pins(id).join(","))
                .add("dockerfile", CONSUL_DOCKERFILE);
        }
        ImageId::ChatGateway => {
            let root = workspace_root();
            inputs
                .add("dockerfile", GATEWAY_DOCKERFILE)
                .add("Cargo.toml", std::fs::read(root.join("Cargo.toml"))?)
                .add("Cargo.lock", std::fs::read(root.join("Cargo.lock"))?);
            for dir in path_crates(&root, &root.join("gateway"))? {
                inputs.add_tree(&root, &dir)?;
            }
        }
        ImageId::Mongo => bail!("{}", ImageId::Mongo.fix()),
    }
    Ok(inputs.digest())
}

fn rootfs_packages(id: ImageId) -> Vec<&'static str> {
    let mut packages = BASE_PACKAGES.to_vec();
    if id == ImageId::Toolbox {
        packages.extend_from_slice(TOOLBOX_EXTRA_PACKAGES);
    }
    packages
}

fn toxiproxy_ldflags() -> String {
    format!("-s -w -X github.com/Shopify/toxiproxy/v2.Version={TOXIPROXY_VERSION}")
}

fn consul_version(id: ImageId) -> (&'static str, &'static str) {
    if id == ImageId::ConsulLegacy {
        (CONSUL_LEGACY_VERSION, GO_TOOLCHAIN_LEGACY)
    } else {
        (CONSUL_VERSION, GO_TOOLCHAIN)
    }
}

/// Versions of Consul's nested modules pinned on top of its go.mod: the
/// release's entry in [`consul::KNOWN_PINS`] (1.10.12's `api v1.13.0` and
/// `sdk v0.11.0`, see there), none for the others. Only the client library
/// and test SDK come from them: the server (raft, state store, streaming)
/// is the release's own code.
pub(crate) fn consul_pins(id: ImageId) -> &'static [&'static str] {
    let (version, _) = consul_version(id);
    consul::KNOWN_PINS
        .iter()
        .find(|(v, _)| *v == version)
        .map_or(&[], |(_, pins)| *pins)
}

fn consul_ldflags(id: ImageId) -> String {
    let (version, _) = consul_version(id);
    format!("-s -w -X github.com/hashicorp/consul/version.GitCommit=v{version}")
}

/// What Docker knows about a local image.
#[derive(Clone, Debug, Default)]
pub struct Present {
    /// The image id.
    pub id: String,
    /// The inputs label, if any.
    pub inputs: Option<String>,
    /// Size in bytes.
    pub size: i64,
}

impl Present {
    /// Whether this image was built from inputs with this digest.
    pub fn built_from(&self, digest: &str) -> bool {
        self.inputs.as_deref() == Some(digest)
    }
}

/// Inspects `reference` with the docker CLI (`None` when absent).
pub fn inspect(reference: &str) -> Option<Present> {
    let format =
        format!("{{{{.Id}}}} {{{{.Size}}}} {{{{index .Config.Labels \"{INPUTS_LABEL}\"}}}}");
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", &format, reference])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let id = parts.next()?.to_string();
    let size = parts.next()?.parse().unwrap_or(0);
    let inputs = parts
        .next()
        .filter(|l| *l != "<no" && !l.is_empty())
        .map(str::to_string);
    Some(Present { id, inputs, size })
}

/// Fails with the fix when the Docker Engine does not answer.
fn require_docker() -> anyhow::Result<()> {
    let docker_ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !docker_ok {
        bail!(
            "Docker Engine is not reachable at {} (or the `docker` CLI is missing): start it with `dockerd >/var/log/dockerd.log 2>&1 &` as root (scripts/setup does this), or `apt-get install -y docker.io`",
            crate::docker::endpoint()
        );
    }
    Ok(())
}

/// Builds what is stale (or everything with `force`) and returns one
/// outcome per image considered, in build order.
pub fn build(options: &BuildOptions) -> anyhow::Result<Vec<Outcome>> {
    require_docker()?;
    let selected: Vec<ImageId> = match options.only {
        Some(ImageId::Mongo) => bail!("{}", ImageId::Mongo.fix()),
        Some(id) => vec![id],
        None => buildable(),
    };
    let mut builder = Builder::new()?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for id in buildable() {
        let wanted = selected.contains(&id);
        let needed_by_wanted = selected.iter().any(|s| dependencies(*s).contains(&id));
        if !wanted && !needed_by_wanted {
            continue;
        }
        let failed_dep = dependencies(id).iter().find(|dep| {
            outcomes
                .iter()
                .any(|o| o.id == **dep && matches!(o.status, Status::Failed(_)))
        });
        let reference = id.local().expect("buildable images have a local name");
        if let Some(dep) = failed_dep {
            outcomes.push(Outcome {
                id,
                reference,
                status: Status::Failed(format!("its base image `{}` failed", dep.name())),
                duration: Duration::ZERO,
                size: None,
            });
            continue;
        }
        // A dependency pulled in only for another image is built when
        // stale, never forced.
        let force = options.force && wanted;
        outcomes.push(builder.one(id, force));
    }
    Ok(outcomes)
}

/// The digest of the image of a Consul release built by `recipe`: the
/// fixed image's own digest when the release is one of the two fixed
/// images (they keep their recipes; see [`consul::fixed_image`]), else
/// the same kinds of input under the image name `consul-release`.
pub fn release_inputs_digest(recipe: &Recipe) -> anyhow::Result<String> {
    if let Some(id) = consul::fixed_image(recipe.release) {
        return inputs_digest(id);
    }
    let mut inputs = Inputs::new();
    inputs
        .add("revision", RECIPE_REVISION)
        .add("image", "consul-release")
        .add(ImageId::Base.name(), inputs_digest(ImageId::Base)?)
        .add("version", recipe.release.to_string())
        .add("toolchain", &recipe.toolchain)
        .add("ldflags", recipe.ldflags())
        .add("pins", recipe.pins.join(","))
        .add("dockerfile", CONSUL_DOCKERFILE);
    Ok(inputs.digest())
}

/// How the build of one Consul release went.
#[derive(Clone, Debug)]
pub struct ReleaseOutcome {
    /// `incident/consul:<version>`.
    pub reference: String,
    /// What happened.
    pub status: Status,
    /// Wall time spent on it (the base image's, when it was stale, included).
    pub duration: Duration,
    /// Its size in bytes, when present.
    pub size: Option<i64>,
}

/// Builds `incident/consul:<version>` of any Consul release by `recipe`
/// (what `incident bisect` builds), content-addressed like every image:
/// up to date when its label matches [`release_inputs_digest`]. The
/// base image is built first when stale. A release that is one of the two
/// fixed images is built as that image, by its own recipe, so its tag
/// never holds two different builds.
pub fn consul_release(recipe: &Recipe, force: bool) -> anyhow::Result<ReleaseOutcome> {
    let started = Instant::now();
    if let Some(id) = consul::fixed_image(recipe.release) {
        let outcomes = build(&BuildOptions {
            only: Some(id),
            force,
        })?;
        let own = outcomes
            .into_iter()
            .find(|o| o.id == id)
            .expect("build returns the image it was asked for");
        return Ok(ReleaseOutcome {
            reference: own.reference,
            status: own.status,
            duration: started.elapsed(),
            size: own.size,
        });
    }
    require_docker()?;
    let mut builder = Builder::new()?;
    let reference = recipe.release.image();
    let base = builder.one(ImageId::Base, false);
    if let Status::Failed(why) = base.status {
        return Ok(ReleaseOutcome {
            reference,
            status: Status::Failed(format!("its base image `base` failed: {why}")),
            duration: started.elapsed(),
            size: None,
        });
    }
    let status = builder.release(recipe, &reference, force);
    Ok(ReleaseOutcome {
        size: inspect(&reference).map(|p| p.size),
        reference,
        status,
        duration: started.elapsed(),
    })
}

/// How one Go binary is built.
struct GoRecipe {
    /// The Go toolchain, e.g. `go1.22.12`.
    toolchain: String,
    /// `module@version`.
    module: String,
    /// The package to build, relative to the module root.
    package: &'static str,
    /// `module@version` requirements set on top of the module's go.mod.
    pins: Vec<String>,
    /// `-ldflags`.
    ldflags: String,
}

struct Builder {
    cache: PathBuf,
    go_env: GoEnv,
    host_go: Option<PathBuf>,
    step_style: ProgressStyle,
}

impl Builder {
    fn new() -> anyhow::Result<Self> {
        let cache = cache_dir();
        for sub in ["logs", "debs", "rootfs", "out", "src"] {
            std::fs::create_dir_all(cache.join(sub))
                .with_context(|| format!("creating the cache {}", cache.display()))?;
        }
        Ok(Self {
            go_env: GoEnv::under(&cache),
            cache,
            host_go: None,
            step_style: ProgressStyle::with_template(
                "{spinner} {prefix:.bold} [{elapsed}] {wide_msg}",
            )
            .expect("a valid template"),
        })
    }

    fn one(&mut self, id: ImageId, force: bool) -> Outcome {
        let started = Instant::now();
        let reference = id.local().expect("buildable images have a local name");
        let result = inputs_digest(id).and_then(|digest| {
            let present = inspect(&reference);
            let current = present.as_ref().is_some_and(|p| p.built_from(&digest));
            if current && !force {
                return Ok(Status::UpToDate);
            }
            let progress = Progress::new(id.name(), &self.step_style, &self.cache)?;
            let built = self.run_recipe(id, &reference, &digest, &progress);
            progress.finish(&built);
            built?;
            if let Some(old) = present {
                remove_if_dangling(&old.id);
            }
            Ok(Status::Built)
        });
        let status = result.unwrap_or_else(|e| Status::Failed(format!("{e:#}")));
        Outcome {
            id,
            size: inspect(&reference).map(|p| p.size),
            reference,
            status,
            duration: started.elapsed(),
        }
    }

    /// Builds one Consul release's image unless its label is current.
    fn release(&mut self, recipe: &Recipe, reference: &str, force: bool) -> Status {
        let result = release_inputs_digest(recipe).and_then(|digest| {
            let present = inspect(reference);
            let current = present.as_ref().is_some_and(|p| p.built_from(&digest));
            if current && !force {
                return Ok(Status::UpToDate);
            }
            let name = format!("consul-{}", recipe.release);
            let progress = Progress::new(&name, &self.step_style, &self.cache)?;
            let go = GoRecipe {
                toolchain: recipe.toolchain.clone(),
                module: recipe.release.module(),
                package: ".",
                pins: recipe.pins.clone(),
                ldflags: recipe.ldflags(),
            };
            let built = self.go_binary(&progress, &go, &digest).and_then(|binary| {
                docker_build(
                    &progress,
                    reference,
                    &digest,
                    CONSUL_DOCKERFILE,
                    &binary,
                    "consul",
                )
            });
            progress.finish(&built);
            built?;
            if let Some(old) = present {
                remove_if_dangling(&old.id);
            }
            Ok(Status::Built)
        });
        result.unwrap_or_else(|e| Status::Failed(format!("{e:#}")))
    }

    fn run_recipe(
        &mut self,
        id: ImageId,
        reference: &str,
        digest: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        match id {
            ImageId::Base | ImageId::Toolbox => self.rootfs_image(id, reference, digest, progress),
            ImageId::Toxiproxy => {
                let recipe = GoRecipe {
                    toolchain: GO_TOOLCHAIN.into(),
                    module: format!("github.com/Shopify/toxiproxy/v2@v{TOXIPROXY_VERSION}"),
                    package: "./cmd/server",
                    pins: Vec::new(),
                    ldflags: toxiproxy_ldflags(),
                };
                let binary = self.go_binary(progress, &recipe, digest)?;
                docker_build(
                    progress,
                    reference,
                    digest,
                    TOXIPROXY_DOCKERFILE,
                    &binary,
                    "toxiproxy",
                )
            }
            ImageId::Consul | ImageId::ConsulLegacy => {
                let (version, toolchain) = consul_version(id);
                let recipe = GoRecipe {
                    toolchain: toolchain.into(),
                    module: format!("github.com/hashicorp/consul@v{version}"),
                    package: ".",
                    pins: consul_pins(id).iter().map(|p| p.to_string()).collect(),
                    ldflags: consul_ldflags(id),
                };
                let binary = self.go_binary(progress, &recipe, digest)?;
                docker_build(
                    progress,
                    reference,
                    digest,
                    CONSUL_DOCKERFILE,
                    &binary,
                    "consul",
                )
            }
            ImageId::ChatGateway => {
                let binary = cargo_gateway(progress)?;
                docker_build(
                    progress,
                    reference,
                    digest,
                    GATEWAY_DOCKERFILE,
                    &binary,
                    "chat-gateway",
                )
            }
            ImageId::Mongo => bail!("{}", ImageId::Mongo.fix()),
        }
    }

    /// debootstrap (cached as a tarball by digest), trim, `docker import`.
    fn rootfs_image(
        &self,
        id: ImageId,
        reference: &str,
        digest: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let tarball = self
            .cache
            .join("rootfs")
            .join(format!("{}-{digest}.tar", id.name()));
        if tarball.exists() {
            progress.step(&format!(
                "reusing the cached root filesystem {}",
                tarball.display()
            ));
        } else {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                bail!("debootstrap needs root: run `incident images build` as root (scripts/setup does)");
            }
            let debootstrap = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .context("debootstrap is not installed: `apt-get install -y debootstrap`")?;
            let dir = self.cache.join("rootfs").join(format!("{}.d", id.name()));
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing a stale {}", dir.display()))?;
            }
            progress.step("debootstrap (Debian minbase)");
            let mut cmd = Command::new(debootstrap);
            cmd.arg("--variant=minbase")
                .arg(format!("--include={}", rootfs_packages(id).join(",")))
                .arg(format!("--cache-dir={}", self.cache.join("debs").display()))
                .arg(DEBIAN_SUITE)
                .arg(&dir)
                .arg(DEBIAN_MIRROR);
            progress.run(&mut cmd)?;
            progress.step("trimming and tarring the root filesystem");
            progress.run(
                Command::new("sh")
                    .arg("-c")
                    .arg(ROOTFS_TRIM)
                    .current_dir(&dir),
            )?;
            let partial = tarball.with_extension("tar.partial");
            progress.run(
                Command::new("tar")
                    .arg("--numeric-owner")
                    .arg("-C")
                    .arg(&dir)
                    .arg("-cf")
                    .arg(&partial)
                    .arg("."),
            )?;
            std::fs::rename(&partial, &tarball)?;
            std::fs::remove_dir_all(&dir)?;
            // Older tarballs of this image are stale now.
            if let Ok(entries) = std::fs::read_dir(self.cache.join("rootfs")) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with(&format!("{}-", id.name())) && entry.path() != tarball {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        progress.step("docker import");
        progress.run(
            Command::new("docker")
                .arg("import")
                .arg("--change")
                .arg(format!("LABEL {INPUTS_LABEL}={digest}"))
                .arg("--change")
                .arg("CMD [\"bash\"]")
                .arg(&tarball)
                .arg(reference),
        )
    }

    /// Downloads a Go module, builds `package` of it as the main module
    /// (nested-module `replace`s dropped) with `toolchain`, and returns the
    /// binary (cached by digest).
    fn go_binary(
        &mut self,
        progress: &Progress,
        recipe: &GoRecipe,
        digest: &str,
    ) -> anyhow::Result<PathBuf> {
        let GoRecipe {
            toolchain,
            module,
            package,
            pins,
            ldflags,
        } = recipe;
        let (toolchain, module, package, pins, ldflags) = (
            toolchain.as_str(),
            module.as_str(),
            *package,
            pins.as_slice(),
            ldflags.as_str(),
        );
        let binary = self.cache.join("out").join(digest);
        if binary.exists() {
            progress.step(&format!("reusing the cached binary {}", binary.display()));
            return Ok(binary);
        }
        let host_go = match &self.host_go {
            Some(go) => go.clone(),
            None => {
                progress.step("finding Go");
                let go = go::host_go()?;
                self.host_go = Some(go.clone());
                go
            }
        };
        progress.step(&format!("fetching the Go toolchain {toolchain}"));
        let go = go::toolchain(&self.go_env, &host_go, toolchain)?;

        progress.step(&format!("downloading {module}"));
        let scratch = go::tempdir("go-download")?;
        let out = self
            .go_env
            .command(&go)
            .args(["mod", "download", "-json", module])
            .current_dir(&scratch)
            .output()?;
        let _ = std::fs::remove_dir_all(&scratch);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let Some(module_dir) = json.get("Dir").and_then(|d| d.as_str()) else {
            bail!(
                "`go mod download {module}` failed: {}{}",
                json.get("Error").and_then(|e| e.as_str()).unwrap_or(""),
                String::from_utf8_lossy(&out.stderr)
            );
        };

        let src = self.cache.join("src").join(module.replace(['/', '@'], "_"));
        if src.exists() {
            std::fs::remove_dir_all(&src)?;
        }
        progress.run(Command::new("cp").arg("-r").arg(module_dir).arg(&src))?;
        progress.run(Command::new("chmod").arg("-R").arg("u+w").arg(&src))?;
        // `go install module@version` refuses modules with `replace`
        // lines; as the main module the nested modules' required versions
        // come from the proxy instead.
        let go_mod = std::fs::read_to_string(src.join("go.mod"))?;
        let replaced: Vec<String> = go_mod
            .lines()
            .filter_map(|line| {
                let line = line.trim().trim_start_matches("replace").trim();
                let (from, to) = line.split_once("=>")?;
                to.trim()
                    .starts_with("./")
                    .then(|| from.split_whitespace().next().unwrap_or("").to_string())
            })
            .filter(|m| !m.is_empty())
            .collect();
        if !replaced.is_empty() || !pins.is_empty() {
            let mut edit = self.go_env.command(&go);
            edit.args(["mod", "edit"]).current_dir(&src);
            for module in &replaced {
                edit.arg(format!("-dropreplace={module}"));
            }
            for pin in pins {
                edit.arg(format!("-require={pin}"));
            }
            progress.run(&mut edit)?;
        }
        progress.step(&format!(
            "go build {module} ({toolchain}, slow on few cores)"
        ));
        let partial = binary.with_extension("partial");
        progress.run(
            self.go_env
                .command(&go)
                .arg("build")
                .arg("-trimpath")
                .arg("-ldflags")
                .arg(ldflags)
                .arg("-o")
                .arg(&partial)
                .arg(package)
                .current_dir(&src),
        )?;
        std::fs::rename(&partial, &binary)?;
        let _ = std::fs::remove_dir_all(&src);
        Ok(binary)
    }
}

/// `cargo build --release` of the gateway; returns the binary's path.
fn cargo_gateway(progress: &Progress) -> anyhow::Result<PathBuf> {
    progress.step("cargo build --release -p gateway --bin chat-gateway");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "-p",
        "gateway",
        "--bin",
        "chat-gateway",
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(workspace_root());
    let stdout = progress.run_capturing(&mut cmd)?;
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "chat-gateway"
        })
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .context("cargo built no chat-gateway executable")
}

/// `docker build` of a one-binary context: `binary` is copied in as
/// `name` next to the Dockerfile.
fn docker_build(
    progress: &Progress,
    reference: &str,
    digest: &str,
    dockerfile: &str,
    binary: &Path,
    name: &str,
) -> anyhow::Result<()> {
    progress.step("docker build");
    let context = go::tempdir("docker-context")?;
    let result = (|| {
        std::fs::write(context.join("Dockerfile"), dockerfile)?;
        std::fs::copy(binary, context.join(name))
            .with_context(|| format!("copying {}", binary.display()))?;
        progress.run(
            Command::new("docker")
                .env("DOCKER_BUILDKIT", "0")
                .arg("build")
                .arg("--label")
                .arg(format!("{INPUTS_LABEL}={digest}"))
                .arg("-t")
                .arg(reference)
                .arg(&context),
        )
    })();
    let _ = std::fs::remove_dir_all(&context);
    result
}

/// Removes a replaced image when nothing else uses it: no tag left (asked
/// first: `docker image rm <id>` also drops the image's other tags in the
/// same repository, e.g. one a user made to keep the old build), and no
/// child image or container (Docker refuses those, and we keep it).
fn remove_if_dangling(image_id: &str) {
    let tags = Command::new("docker")
        .args(["image", "inspect", "-f", "{{len .RepoTags}}", image_id])
        .stderr(Stdio::null())
        .output();
    let untagged =
        tags.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !untagged {
        return;
    }
    let _ = Command::new("docker")
        .args(["image", "rm", image_id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The progress line of one image's build, and its log file.
struct Progress {
    bar: ProgressBar,
    name: String,
    log_path: PathBuf,
    log: std::sync::Mutex<std::fs::File>,
    step: std::sync::Mutex<String>,
}

impl Progress {
    /// The progress of the image called `name` (`consul`, `consul-1.16.3`),
    /// logging to `logs/<name>.log`.
    fn new(name: &str, style: &ProgressStyle, cache: &Path) -> anyhow::Result<Self> {
        let log_path = cache.join("logs").join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let bar = ProgressBar::new_spinner()
            .with_style(style.clone())
            .with_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Ok(Self {
            bar,
            name: name.to_string(),
            log_path,
            log: std::sync::Mutex::new(log),
            step: std::sync::Mutex::new(String::new()),
        })
    }

    fn step(&self, what: &str) {
        *self.step.lock().unwrap() = what.to_string();
        let _ = writeln!(self.log.lock().unwrap(), "==> {what}");
        if self.bar.is_hidden() {
            eprintln!("{}: {what}", self.name);
        }
        self.bar.set_message(what.to_string());
    }

    fn line(&self, line: &str) {
        let _ = writeln!(self.log.lock().unwrap(), "{line}");
        let step = self.step.lock().unwrap().clone();
        let short: String = line.chars().take(80).collect();
        self.bar.set_message(format!("{step}: {short}"));
    }

    /// Runs `cmd`, logging its output; fails with the log's tail.
    fn run(&self, cmd: &mut Command) -> anyhow::Result<()> {
        self.run_capturing(cmd).map(|_| ())
    }

    /// Like [`Progress::run`], and returns the command's stdout.
    fn run_capturing(&self, cmd: &mut Command) -> anyhow::Result<String> {
        let _ = writeln!(self.log.lock().unwrap(), "$ {cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let captured = std::thread::scope(|scope| {
            let out = scope.spawn(|| {
                let mut all = String::new();
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // Cargo's JSON messages are for us, not the log.
                    if !line.starts_with('{') {
                        self.line(&line);
                    }
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            });
            scope.spawn(|| {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    self.line(&line);
                }
            });
            out.join().unwrap_or_default()
        });
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "{:?} failed ({status}); log {}:\n{}",
                cmd.get_program(),
                self.log_path.display(),
                tail(&self.log_path, 15)
            );
        }
        Ok(captured)
    }

    fn finish(&self, result: &anyhow::Result<()>) {
        let word = if result.is_ok() { "done" } else { "failed" };
        self.bar.finish_and_clear();
        if self.bar.is_hidden() {
            eprintln!("{}: {word}", self.name);
        }
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A replaced image goes only when nothing names it: a tag someone
    /// else put on it (same repository) keeps it.
    #[test]
    fn a_replaced_image_is_removed_only_when_untagged() {
        if !crate::console::docker_or_skip("a_replaced_image_is_removed_only_when_untagged") {
            return;
        }
        let base = ImageId::Base.local().expect("base is built locally");
        if docker(&["image", "inspect", "-f", "{{.Id}}", &base]).is_empty() {
            crate::console::loud(&format!("SKIPPED a_replaced_image_is_removed_only_when_untagged: {base} is missing (incident images build --only base)"));
            return;
        }
        // Two untagged images (commits of a created, never started container).
        let name = format!("incident-untag-test-{}", std::process::id());
        docker(&["create", "--name", &name, &base, "true"]);
        let tagged = docker(&["commit", "-m", "tagged", &name]);
        let untagged = docker(&["commit", "-m", "untagged", &name]);
        docker(&["rm", "-f", &name]);
        assert!(tagged.starts_with("sha256:") && untagged.starts_with("sha256:"));
        assert_ne!(tagged, untagged);
        let kept = format!("incident/untag-test:{}", std::process::id());
        docker(&["tag", &tagged, &kept]);
        let exists = |id: &str| !docker(&["image", "inspect", "-f", "{{.Id}}", id]).is_empty();

        remove_if_dangling(&tagged);
        remove_if_dangling(&untagged);
        let (tagged_kept, untagged_kept) = (exists(&tagged), exists(&untagged));
        docker(&["image", "rm", &kept]);
        docker(&["image", "rm", &untagged]);
        assert!(tagged_kept, "an image someone tagged is kept");
        assert!(!untagged_kept, "an untagged image is removed");
    }

    #[test]
    fn digests_are_stable_and_distinct_per_image() {
        let mut seen = std::collections::HashSet::new();
        for id in buildable() {
            let d = inputs_digest(id).unwrap();
            assert_eq!(d, inputs_digest(id).unwrap(), "{id:?} is deterministic");
            assert!(seen.insert(d), "{id:?} has its own digest");
        }
    }

    #[test]
    fn mongo_is_not_buildable_and_dependents_start_from_base() {
        assert!(!buildable().contains(&ImageId::Mongo));
        assert!(inputs_digest(ImageId::Mongo).is_err());
        assert_eq!(dependencies(ImageId::Consul), &[ImageId::Base]);
        // Base comes before everything built FROM it.
        let order = buildable();
        for id in &order {
            for dep in dependencies(*id) {
                let pos = |x: &ImageId| order.iter().position(|o| o == x).unwrap();
                assert!(pos(dep) < pos(id));
            }
        }
    }

    #[test]
    fn the_toolbox_extends_the_base_packages() {
        let base = rootfs_packages(ImageId::Base);
        let toolbox = rootfs_packages(ImageId::Toolbox);
        assert!(base.iter().all(|p| toolbox.contains(p)));
        assert!(toolbox.contains(&"stress-ng"));
    }

    #[test]
    fn a_release_build_is_content_addressed_and_the_fixed_ones_keep_their_digest() {
        let r = |v: &str| consul::Release::parse(v).unwrap();
        let go_mod = "module github.com/hashicorp/consul\n\ngo 1.22\n\ntoolchain go1.22.5\n";
        // The two fixed releases are built as their images: same digest.
        for (v, id) in [
            (CONSUL_VERSION, ImageId::Consul),
            (CONSUL_LEGACY_VERSION, ImageId::ConsulLegacy),
        ] {
            let recipe = Recipe::for_release(r(v), go_mod, &[]).unwrap();
            assert_eq!(
                release_inputs_digest(&recipe).unwrap(),
                inputs_digest(id).unwrap()
            );
        }
        // Any other release: its own digest, changed by toolchain and pins.
        let plain = Recipe::for_release(r("1.20.2"), go_mod, &[]).unwrap();
        let d = release_inputs_digest(&plain).unwrap();
        assert_eq!(d, release_inputs_digest(&plain).unwrap());
        let other_version = Recipe::for_release(r("1.20.1"), go_mod, &[]).unwrap();
        assert_ne!(d, release_inputs_digest(&other_version).unwrap());
        let newer_go =
            Recipe::for_release(r("1.20.2"), &go_mod.replace("go1.22.5", "go1.23.1"), &[]).unwrap();
        assert_ne!(d, release_inputs_digest(&newer_go).unwrap());
        let pinned = Recipe::for_release(
            r("1.20.2"),
            go_mod,
            &["github.com/hashicorp/consul/api@v1.31.1".to_string()],
        )
        .unwrap();
        assert_ne!(d, release_inputs_digest(&pinned).unwrap());
        for id in buildable() {
            assert_ne!(d, inputs_digest(id).unwrap(), "{id:?}");
        }
    }

    #[test]
    fn the_fixed_consul_images_keep_their_pins() {
        assert_eq!(
            consul_pins(ImageId::ConsulLegacy),
            &[
                "github.com/hashicorp/consul/api@v1.13.0",
                "github.com/hashicorp/consul/sdk@v0.11.0"
            ]
        );
        assert!(consul_pins(ImageId::Consul).is_empty());
    }
}
