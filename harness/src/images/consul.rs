//! Consul as a version axis: which releases exist, and how any one of them
//! is built (the recipe `incident bisect` hands to
//! [`build::consul_release`](super::build::consul_release)).
//!
//! The pure core, unit-tested without a network:
//! - [`Release`]: a release version (`1.16.3`); pre-releases (`-rc1`),
//!   builds (`+ent`) and pseudo-versions are not releases.
//! - [`releases`]: a module proxy `@v/list` body to sorted releases.
//! - [`GoMod`]: the lines of a `go.mod` a build needs (`go`, `toolchain`,
//!   `require`, local `replace`).
//! - [`Recipe::for_release`]: the Go toolchain and the module pins of one
//!   release, from its `go.mod`.
//!
//! The shell is [`fetch_go_mod`] and [`fetch_releases`]: `go list -m`
//! with the builder's Go environment, so the module proxy is reached the
//! way builds reach it.
//!
//! One concept, one file: a release, the go.mod it is read from and the
//! recipe read from it change together; half of it is tests.
//!
//! The proxy's `@v/list` for `github.com/hashicorp/consul` names no
//! release (it lists one 2017 pseudo-version; every tag is served when
//! asked for by name), so the releases are the union of that list and
//! [`KNOWN_RELEASES`]: the releases from 1.10.0 to 1.22.7, each checked
//! against the proxy (its `go.mod` is served) on 2026-12-04.

use super::build::GO_TOOLCHAIN_LEGACY;
use super::{CONSUL_LEGACY_VERSION, CONSUL_VERSION};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::fmt;

/// The Consul module.
pub const MODULE: &str = "github.com/hashicorp/consul";

/// The releases checked against the module proxy (see the module docs),
/// separated by whitespace: 1.10.0 to 1.22.7, the versions `incident
/// bisect` can name when the proxy's list does not.
pub const KNOWN_RELEASES: &str = "\
1.10.0 1.10.1 1.10.2 1.10.3 1.10.4 1.10.5 1.10.6 1.10.7 1.10.8 1.10.9 1.10.10 1.10.11 1.10.12 \
1.11.0 1.11.1 1.11.2 1.11.3 1.11.4 1.11.5 1.11.6 1.11.7 1.11.8 1.11.9 1.11.10 1.11.11 \
1.12.0 1.12.1 1.12.2 1.12.3 1.12.4 1.12.5 1.12.6 1.12.7 1.12.8 1.12.9 \
1.13.0 1.13.1 1.13.2 1.13.3 1.13.4 1.13.5 1.13.6 1.13.7 1.13.8 1.13.9 \
1.14.0 1.14.1 1.14.2 1.14.3 1.14.4 1.14.5 1.14.6 1.14.7 1.14.8 1.14.9 1.14.10 1.14.11 \
1.15.0 1.15.1 1.15.2 1.15.3 1.15.4 1.15.5 1.15.6 1.15.7 1.15.8 1.15.9 1.15.10 1.15.11 \
1.16.0 1.16.1 1.16.2 1.16.3 1.16.4 1.16.5 1.16.6 1.16.7 \
1.17.0 1.17.1 1.17.2 1.17.3 1.17.4 \
1.18.0 1.18.1 1.18.2 \
1.19.0 1.19.1 1.19.2 \
1.20.0 1.20.1 1.20.2 1.20.3 1.20.4 1.20.5 1.20.6 \
1.21.0 1.21.1 1.21.2 1.21.3 1.21.4 1.21.5 \
1.22.0 1.22.1 1.22.2 1.22.3 1.22.4 1.22.5 1.22.6 1.22.7";

/// A Consul release: `major.minor.patch`, nothing after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Release {
    /// Parses `1.16.3` or `v1.16.3`. A pre-release (`1.11.0-rc1`), a build
    /// suffix (`1.15.2+ent`), a pseudo-version or anything but three
    /// numbers is an error saying what a release looks like.
    pub fn parse(text: &str) -> anyhow::Result<Release> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let parts: Vec<&str> = t.split('.').collect();
        let number = |p: &str| -> Option<u32> {
            (!p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse().ok())
            .flatten()
        };
        match parts.as_slice() {
            [a, b, c] => match (number(a), number(b), number(c)) {
                (Some(major), Some(minor), Some(patch)) => Ok(Release {
                    major,
                    minor,
                    patch,
                }),
                _ => bail!("`{text}` is not a release version: give three numbers like 1.16.3 (no -rc, +ent or pseudo-version)"),
            },
            _ => bail!("`{text}` is not a release version: give three numbers like 1.16.3 (no -rc, +ent or pseudo-version)"),
        }
    }

    /// `incident/consul:<version>`, the local image of this release.
    pub fn image(self) -> String {
        format!("incident/consul:{self}")
    }

    /// `github.com/hashicorp/consul@v<version>`.
    pub fn module(self) -> String {
        format!("{MODULE}@v{self}")
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The releases in a module proxy `@v/list` body (one version a line),
/// sorted and without duplicates; pre-releases and pseudo-versions are
/// dropped.
pub fn releases(list: &str) -> Vec<Release> {
    let mut out: Vec<Release> = list
        .lines()
        .filter_map(|l| Release::parse(l).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// [`KNOWN_RELEASES`] and the releases in `list`, sorted, once each.
pub fn with_known(list: &str) -> Vec<Release> {
    let mut out = releases(list);
    out.extend(
        KNOWN_RELEASES
            .split_whitespace()
            .map(|v| Release::parse(v).expect("KNOWN_RELEASES are releases")),
    );
    out.sort();
    out.dedup();
    out
}

/// A Go version as `go.mod` writes it (`1.20`, `1.22.4`) or as a toolchain
/// is named (`go1.22.4`). `1.20` is `1.20.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion {
    /// Major (1).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when not written).
    pub patch: u32,
}

impl GoVersion {
    /// Parses `1.22`, `1.22.4` or `go1.22.4`; `None` for anything else
    /// (`go1.21rc2`, `default`).
    pub fn parse(text: &str) -> Option<GoVersion> {
        let t = text.trim();
        let t = t.strip_prefix("go").unwrap_or(t);
        let nums: Vec<u32> = t
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        match nums.as_slice() {
            [major, minor] => Some(GoVersion {
                major: *major,
                minor: *minor,
                patch: 0,
            }),
            [major, minor, patch] => Some(GoVersion {
                major: *major,
                minor: *minor,
                patch: *patch,
            }),
            _ => None,
        }
    }

    /// The toolchain's name, `go1.22.4` (toolchains from Go 1.21 on are
    /// named with three numbers).
    pub fn toolchain(self) -> String {
        format!("go{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a build needs from a `go.mod`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GoMod {
    /// The `go` line.
    pub go: Option<GoVersion>,
    /// The `toolchain` line.
    pub toolchain: Option<GoVersion>,
    /// Every `require`d module and its version (block or single line).
    pub requires: BTreeMap<String, String>,
    /// Modules replaced by a directory of the same repository
    /// (`=> ./api`): nested modules, not in the module's zip.
    pub local_replaces: Vec<String>,
}

impl GoMod {
    /// Parses the lines it needs; comments and other directives are
    /// skipped.
    pub fn parse(text: &str) -> GoMod {
        let mut out = GoMod::default();
        let mut block: Option<&str> = None;
        for raw in text.lines() {
            let line = raw.split("//").next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(kind) = block {
                if line == ")" {
                    block = None;
                } else {
                    out.directive(kind, line);
                }
                continue;
            }
            let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            if rest == "(" {
                block = Some(match kind {
                    "require" => "require",
                    "replace" => "replace",
                    _ => "other",
                });
                continue;
            }
            match kind {
                "go" => out.go = GoVersion::parse(rest),
                "toolchain" => out.toolchain = GoVersion::parse(rest),
                "require" => out.directive("require", rest),
                "replace" => out.directive("replace", rest),
                _ => {}
            }
        }
        out
    }

    fn directive(&mut self, kind: &str, body: &str) {
        match kind {
            "require" => {
                let mut words = body.split_whitespace();
                if let (Some(module), Some(version)) = (words.next(), words.next()) {
                    self.requires.insert(module.into(), version.into());
                }
            }
            "replace" => {
                if let Some((from, to)) = body.split_once("=>") {
                    let to = to.trim();
                    if to.starts_with("./") || to.starts_with("../") {
                        if let Some(module) = from.split_whitespace().next() {
                            self.local_replaces.push(module.into());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The version of `module` required, if any.
    pub fn required(&self, module: &str) -> Option<&str> {
        self.requires.get(module).map(String::as_str)
    }
}

/// The oldest toolchain a release is built with: [`GO_TOOLCHAIN_LEGACY`].
/// Toolchains before Go 1.21 are not served by the module proxy, and Go
/// 1.22 still accepts the `//go:linkname` uses of old Consul dependencies
/// (Go 1.23+ refuses them), so every release that asks for less gets it.
pub fn toolchain_floor() -> GoVersion {
    GoVersion::parse(GO_TOOLCHAIN_LEGACY).expect("GO_TOOLCHAIN_LEGACY is a Go version")
}

/// How one Consul release is built: its Go toolchain and the module pins
/// set on top of its `go.mod`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// The release.
    pub release: Release,
    /// The Go toolchain (`go1.22.12`).
    pub toolchain: String,
    /// `module@version` requirements set with `go mod edit -require`.
    pub pins: Vec<String>,
    /// Why this toolchain and these pins, one line for the record.
    pub why: String,
}

/// Pins a release needs on top of its `go.mod`, found by building it
/// (see [`Recipe::for_release`]). `(release, pins)`.
pub const KNOWN_PINS: &[(&str, &[&str])] = &[(
    // 1.10.12's go.mod requires api v1.10.0 and sdk v0.8.0, but its tree
    // was built against later, untagged ./api and ./sdk (fields
    // HealthCheckDefinition.GRPC, iptables.Config.NetNS); the oldest tags
    // that carry them are api v1.13.0 and sdk v0.11.0. The server is
    // 1.10.12's own code.
    CONSUL_LEGACY_VERSION,
    &[
        "github.com/hashicorp/consul/api@v1.13.0",
        "github.com/hashicorp/consul/sdk@v0.11.0",
    ],
)];

impl Recipe {
    /// The recipe of `release` from its `go.mod` text and any `extra`
    /// pins (`module@version`, e.g. from `incident bisect --pin`):
    ///
    /// - toolchain: the `toolchain` line, else the `go` line, raised to
    ///   [`toolchain_floor`] (what Consul asks for is what HashiCorp built
    ///   it with; older asks get the floor);
    /// - pins: [`KNOWN_PINS`] for the release, then `extra` (a later pin of
    ///   the same module wins). A generic release needs none: the nested
    ///   modules (`./api`, `./sdk`, ..) its go.mod replaces are dropped by
    ///   the builder and come from the proxy at the versions it requires.
    ///   When its tree was built against an untagged nested module (as
    ///   1.10.x was), the build fails on a missing field, the version is
    ///   skipped, and a `--pin` of the first tag that has it fixes it.
    pub fn for_release(release: Release, go_mod: &str, extra: &[String]) -> anyhow::Result<Recipe> {
        let parsed = GoMod::parse(go_mod);
        let asked = parsed.toolchain.or(parsed.go);
        let floor = toolchain_floor();
        let (toolchain, why) = match asked {
            Some(v) if v >= floor => (
                v,
                format!(
                    "{} from its go.mod's `{}` line",
                    v.toolchain(),
                    if parsed.toolchain.is_some() {
                        "toolchain"
                    } else {
                        "go"
                    }
                ),
            ),
            Some(v) => (
                floor,
                format!(
                    "{} (its go.mod asks for {}; older toolchains are raised to the floor)",
                    floor.toolchain(),
                    v.toolchain()
                ),
            ),
            None => bail!(
                "{}'s go.mod has neither a `go` nor a `toolchain` line: is it Consul's go.mod?",
                release.module()
            ),
        };
        let mut pins: BTreeMap<String, String> = BTreeMap::new();
        let known = KNOWN_PINS
            .iter()
            .find(|(v, _)| Release::parse(v).ok() == Some(release))
            .map(|(_, p)| p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_default();
        for pin in known.iter().chain(extra) {
            let (module, version) = split_pin(pin)?;
            pins.insert(module.into(), version.into());
        }
        let pins: Vec<String> = pins.into_iter().map(|(m, v)| format!("{m}@{v}")).collect();
        let why = if pins.is_empty() {
            why
        } else {
            format!("{why}; pins {}", pins.join(", "))
        };
        Ok(Recipe {
            release,
            toolchain: toolchain.toolchain(),
            pins,
            why,
        })
    }

    /// The `-ldflags` of the build (as the fixed Consul images use).
    pub fn ldflags(&self) -> String {
        format!(
            "-s -w -X github.com/hashicorp/consul/version.GitCommit=v{}",
            self.release
        )
    }
}

/// A pin's module and version (`github.com/hashicorp/consul/api@v1.13.0`),
/// or an error showing how one is written.
pub fn split_pin(pin: &str) -> anyhow::Result<(&str, &str)> {
    match pin.split_once('@') {
        Some((module, version))
            if !module.is_empty()
                && module.contains('/')
                && version.starts_with('v')
                && version.len() > 1 =>
        {
            Ok((module, version))
        }
        _ => bail!(
            "pin `{pin}` is not module@version: write it like github.com/hashicorp/consul/api@v1.13.0"
        ),
    }
}

/// Whether `release` is one of the two fixed images (`consul`,
/// `consul-legacy`), built with their own recipes: a bisection reuses
/// them (same tag, same content digest) instead of building a second
/// image under the same tag.
pub fn fixed_image(release: Release) -> Option<super::ImageId> {
    let current = Release::parse(CONSUL_VERSION).expect("CONSUL_VERSION is a release");
    let legacy = Release::parse(CONSUL_LEGACY_VERSION).expect("CONSUL_LEGACY_VERSION is a release");
    if release == current {
        Some(super::ImageId::Consul)
    } else if release == legacy {
        Some(super::ImageId::ConsulLegacy)
    } else {
        None
    }
}

/// Runs `go list -m -json -e <args>` with the builder's Go environment
/// (module cache, `GOPROXY`, `GOFLAGS` as builds see them) in a scratch
/// directory, and returns its JSON: the module proxy through `go` itself,
/// so the proxy, its certificates and credentials are the ones builds use.
fn go_list(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let host_go = super::go::host_go()?;
    let env = super::go::GoEnv::under(&super::build::cache_dir());
    let scratch = super::go::tempdir("go-list")?;
    let out = env
        .command(&host_go)
        .args(["list", "-m", "-json", "-e"])
        .args(args)
        .current_dir(&scratch)
        .output()
        .with_context(|| format!("running {}", host_go.display()));
    let _ = std::fs::remove_dir_all(&scratch);
    let out = out?;
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "`go list -m {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// The releases the module proxy lists for Consul (`go list -m
/// -versions`), with [`KNOWN_RELEASES`].
pub fn fetch_releases() -> anyhow::Result<Vec<Release>> {
    let json = go_list(&["-versions", MODULE])?;
    if let Some(err) = json.pointer("/Error/Err").and_then(|e| e.as_str()) {
        bail!(
            "the Go module proxy did not list {MODULE}: {}: check the network or GOPROXY",
            err.lines().next().unwrap_or("")
        );
    }
    let listed: Vec<&str> = json
        .get("Versions")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    Ok(with_known(&listed.join("\n")))
}

/// The `go.mod` of `release`, from the module proxy; an error naming the
/// fix when the proxy does not have it.
pub fn fetch_go_mod(release: Release) -> anyhow::Result<String> {
    let json = go_list(&[&release.module()])?;
    if let Some(err) = json.pointer("/Error/Err").and_then(|e| e.as_str()) {
        bail!(
            "the Go module proxy has no Consul v{release} ({}): pick a released version (`incident bisect consul <good>..<bad> <incident> --dry-run` lists a range's)",
            err.lines().next().unwrap_or("").trim()
        );
    }
    let path = json
        .get("GoMod")
        .and_then(|p| p.as_str())
        .with_context(|| format!("`go list -m {}` named no go.mod", release.module()))?;
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Release {
        Release::parse(s).unwrap()
    }

    #[test]
    fn releases_are_three_numbers_and_nothing_else() {
        assert_eq!(
            r("1.16.3"),
            Release {
                major: 1,
                minor: 16,
                patch: 3
            }
        );
        assert_eq!(r("v1.10.12"), r("1.10.12"));
        for bad in [
            "1.11.0-rc1",
            "1.15.2+ent",
            "v0.0.0-20171026175957-610f3c86a089",
            "1.16",
            "1.16.3.1",
            "1.016.3",
            "",
            "latest",
        ] {
            let e = Release::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("not a release version") && e.contains("1.16.3"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn releases_sort_as_numbers_not_text() {
        assert!(r("1.9.17") < r("1.10.0"));
        assert!(r("1.10.2") < r("1.10.12"));
        assert_eq!(r("1.22.6").to_string(), "1.22.6");
        assert_eq!(r("1.22.6").image(), "incident/consul:1.22.6");
        assert_eq!(r("1.22.6").module(), "github.com/hashicorp/consul@v1.22.6");
    }

    #[test]
    fn a_proxy_list_gives_sorted_releases_only() {
        let list = "v1.10.2\nv1.9.17\nv1.11.0-rc1\nv1.10.12\n\nv0.0.0-20171026175957-610f3c86a089\nv1.10.2\nv1.15.2+ent\n";
        let got: Vec<String> = releases(list).iter().map(|r| r.to_string()).collect();
        assert_eq!(got, ["1.9.17", "1.10.2", "1.10.12"]);
        // Today's list names none, the known releases fill in.
        let all = with_known("v0.0.0-20171026175957-610f3c86a089\n");
        assert!(all.contains(&r("1.10.12")) && all.contains(&r("1.22.6")));
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(with_known("v1.99.0\n").last(), Some(&r("1.99.0")));
    }

    #[test]
    fn the_known_releases_hold_both_fixed_images_and_parse() {
        let all = with_known("");
        assert_eq!(
            all.len(),
            KNOWN_RELEASES.split_whitespace().count(),
            "no duplicates"
        );
        assert_eq!(all.len(), 109);
        assert!(all.contains(&r(CONSUL_VERSION)));
        assert!(all.contains(&r(CONSUL_LEGACY_VERSION)));
        assert_eq!(
            fixed_image(r(CONSUL_VERSION)),
            Some(super::super::ImageId::Consul)
        );
        assert_eq!(
            fixed_image(r(CONSUL_LEGACY_VERSION)),
            Some(super::super::ImageId::ConsulLegacy)
        );
        assert_eq!(fixed_image(r("1.16.3")), None);
    }

    #[test]
    fn go_versions_parse_both_spellings() {
        let v = GoVersion::parse("1.20").unwrap();
        assert_eq!((v.minor, v.patch), (20, 0));
        assert_eq!(
            GoVersion::parse("go1.22.4").unwrap().toolchain(),
            "go1.22.4"
        );
        assert!(GoVersion::parse("1.22.4").unwrap() > GoVersion::parse("1.22").unwrap());
        assert!(GoVersion::parse("go1.21rc2").is_none());
        assert!(GoVersion::parse("default").is_none());
    }

    /// The head of Consul v1.19.0's go.mod, as the proxy serves it.
    const GO_MOD_1_19_0: &str = "module github.com/hashicorp/consul

go 1.20

toolchain go1.22.4

replace (
\tgithub.com/hashicorp/consul/api => ./api
\tgithub.com/hashicorp/consul/envoyextensions => ./envoyextensions
\tgithub.com/hashicorp/consul/proto-public => ./proto-public
\tgithub.com/hashicorp/consul/sdk => ./sdk
\tgithub.com/hashicorp/consul/troubleshoot => ./troubleshoot
)

exclude (
\tgithub.com/hashicorp/go-msgpack v1.1.5 // has breaking changes and must be avoided
)

require (
\tgithub.com/hashicorp/consul/api v1.29.1 // a comment
\tgithub.com/hashicorp/consul/sdk v0.16.1
\tgithub.com/hashicorp/raft v1.5.0
)

require github.com/hashicorp/raft-boltdb/v2 v2.3.0
";

    /// The head of Consul v1.10.12's go.mod.
    const GO_MOD_1_10_12: &str = "module github.com/hashicorp/consul

go 1.13

replace github.com/hashicorp/consul/api => ./api

replace github.com/hashicorp/consul/sdk => ./sdk

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a

require (
\tgithub.com/hashicorp/consul/api v1.10.0
\tgithub.com/hashicorp/consul/sdk v0.8.0
\tgithub.com/hashicorp/raft v1.3.6
)
";

    #[test]
    fn a_go_mod_gives_its_go_toolchain_requires_and_nested_modules() {
        let m = GoMod::parse(GO_MOD_1_19_0);
        assert_eq!(m.go, GoVersion::parse("1.20"));
        assert_eq!(m.toolchain, GoVersion::parse("go1.22.4"));
        assert_eq!(m.required("github.com/hashicorp/raft"), Some("v1.5.0"));
        assert_eq!(
            m.required("github.com/hashicorp/raft-boltdb/v2"),
            Some("v2.3.0")
        );
        assert_eq!(
            m.required("github.com/hashicorp/go-msgpack"),
            None,
            "exclude is not require"
        );
        assert_eq!(m.local_replaces.len(), 5);
        assert!(m
            .local_replaces
            .contains(&"github.com/hashicorp/consul/sdk".to_string()));
        let old = GoMod::parse(GO_MOD_1_10_12);
        assert_eq!(old.toolchain, None);
        assert_eq!(old.required("github.com/hashicorp/raft"), Some("v1.3.6"));
        assert_eq!(
            old.local_replaces,
            [
                "github.com/hashicorp/consul/api",
                "github.com/hashicorp/consul/sdk"
            ]
        );
    }

    #[test]
    fn the_toolchain_is_what_the_go_mod_asks_raised_to_the_floor() {
        let new = Recipe::for_release(r("1.19.0"), GO_MOD_1_19_0, &[]).unwrap();
        // go1.22.4 < go1.22.12: raised.
        assert_eq!(new.toolchain, GO_TOOLCHAIN_LEGACY);
        assert!(new.pins.is_empty());
        let asks_more = GO_MOD_1_19_0.replace("toolchain go1.22.4", "toolchain go1.25.3");
        let newer = Recipe::for_release(r("1.22.0"), &asks_more, &[]).unwrap();
        assert_eq!(newer.toolchain, "go1.25.3");
        assert!(newer.why.contains("`toolchain` line"), "{}", newer.why);
        let go_line_only = "module x\n\ngo 1.23.1\n";
        let v = Recipe::for_release(r("1.20.0"), go_line_only, &[]).unwrap();
        assert_eq!(v.toolchain, "go1.23.1");
        assert!(v.why.contains("`go` line"), "{}", v.why);
        let e = Recipe::for_release(r("1.20.0"), "module x\n", &[]).unwrap_err();
        assert!(
            e.to_string().contains("neither a `go` nor a `toolchain`"),
            "{e}"
        );
    }

    #[test]
    fn the_legacy_release_gets_the_fixed_images_pins_and_toolchain() {
        let legacy = Recipe::for_release(r(CONSUL_LEGACY_VERSION), GO_MOD_1_10_12, &[]).unwrap();
        assert_eq!(legacy.toolchain, GO_TOOLCHAIN_LEGACY);
        assert_eq!(
            legacy.pins,
            [
                "github.com/hashicorp/consul/api@v1.13.0",
                "github.com/hashicorp/consul/sdk@v0.11.0"
            ]
        );
        // The fixed image's pins are the same data.
        let fixed: Vec<String> =
            super::super::build::consul_pins(super::super::ImageId::ConsulLegacy)
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(legacy.pins, fixed);
        assert!(legacy.ldflags().ends_with("GitCommit=v1.10.12"));
    }

    #[test]
    fn extra_pins_add_or_override_and_bad_ones_are_named() {
        let extra = vec![
            "github.com/hashicorp/consul/sdk@v0.13.0".to_string(),
            "github.com/hashicorp/consul/api@v1.14.0".to_string(),
        ];
        let v = Recipe::for_release(r("1.10.11"), GO_MOD_1_10_12, &extra).unwrap();
        assert_eq!(
            v.pins,
            [
                "github.com/hashicorp/consul/api@v1.14.0",
                "github.com/hashicorp/consul/sdk@v0.13.0"
            ]
        );
        let v = Recipe::for_release(r(CONSUL_LEGACY_VERSION), GO_MOD_1_10_12, &extra[..1]).unwrap();
        assert!(v
            .pins
            .contains(&"github.com/hashicorp/consul/sdk@v0.13.0".to_string()));
        assert!(v
            .pins
            .contains(&"github.com/hashicorp/consul/api@v1.13.0".to_string()));
        for bad in ["api", "github.com/hashicorp/consul/api@1.13.0", "@v1"] {
            let e =
                Recipe::for_release(r("1.16.0"), GO_MOD_1_19_0, &[bad.to_string()]).unwrap_err();
            assert!(e.to_string().contains("module@version"), "{bad}: {e}");
        }
    }
}
