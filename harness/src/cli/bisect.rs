//! `incident bisect <image> <good>..<bad> <incident>`: which release
//! introduced or removed the outage's signature. Builds the Consul
//! releases of the range with the content-addressed builder
//! ([`build::consul_release`]), runs the incident on each with the image
//! override its requirement reads (`INCIDENT_IMAGE_CONSUL`, or
//! `INCIDENT_IMAGE_CONSUL_LEGACY` for an incident that requires
//! `consul_legacy`), reads the signature from the run's report, and lets
//! the search ([`report::bisect::Search`]) pick the next release: both
//! ends, then halvings, `2 + ceil(log2(n - 1))` builds at most. Writes
//! `bisect.{md,json}` beside the incident's report after every step
//! (each run's artifacts under `<incident>/bisect/<version>/`).
//!
//! Everything it is given is checked before anything is built: the range
//! (`good` older than `bad`, both releases), the image, the incident and
//! its Consul requirement, the pins; each mistake is one line naming the
//! fix.
//!
//! [`build::consul_release`]: crate::images::build::consul_release
//! [`report::bisect::Search`]: crate::report::bisect::Search

use crate::catalog;
use crate::images::build;
use crate::images::consul::{self, Recipe, Release};
use crate::images::ImageId;
use crate::report::bisect::{Bisection, Build, Next, Search, Seen, Step};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Options of `incident bisect`.
#[derive(clap::Args, Debug)]
pub struct BisectArgs {
    /// The image whose releases are bisected: `consul` (`consul-legacy`
    /// names the same releases). Which override each run sets follows the
    /// incident's requirement.
    pub image: String,
    /// `<good>..<bad>`: the older release, two dots, the newer one
    /// (`1.10.12..1.22.6`).
    pub range: String,
    /// The incident run on each release (`roblox_consul_before`).
    pub incident: String,
    /// Judge only this signature check (default: every signature check
    /// the run records; present when any shows).
    #[arg(long)]
    pub signature: Option<String>,
    /// A module pin added to every build (`module@version`, repeatable),
    /// for releases whose tree needs a nested module newer than its go.mod
    /// requires.
    #[arg(long = "pin")]
    pub pins: Vec<String>,
    /// Only the newest patch of each minor between the ends (a coarse
    /// first pass; bisect its answer's two minors again for the patch).
    #[arg(long)]
    pub minors: bool,
    /// Print the releases and the most builds the range takes, build
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What a bisection runs: checked arguments.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// The image name as given.
    pub image: String,
    /// The incident's name.
    pub incident: String,
    /// Its libtest path.
    pub test_path: String,
    /// The image its Consul requirement resolves (its override variable is
    /// what each run sets).
    pub image_id: ImageId,
    /// The releases from good to bad, oldest first.
    pub versions: Vec<Release>,
    /// `--signature`.
    pub signature: Option<String>,
    /// `--pin`s.
    pub pins: Vec<String>,
}

/// Parses `<good>..<bad>`: two releases, the older first.
pub fn parse_range(text: &str) -> Result<(Release, Release)> {
    let Some((good, bad)) = text.split_once("..") else {
        bail!("range `{text}`: give it as <good>..<bad>, the older release first, e.g. 1.10.12..1.22.6");
    };
    let good = Release::parse(good).with_context(|| format!("range `{text}`, good end"))?;
    let bad = Release::parse(bad).with_context(|| format!("range `{text}`, bad end"))?;
    if good == bad {
        bail!("range `{text}`: both ends are {good}; give two different releases, the older first");
    }
    if good > bad {
        bail!("range `{text}`: good {good} is not older than bad {bad}; write the older release first: {bad}..{good}");
    }
    Ok((good, bad))
}

/// The releases from `good` to `bad` in `all` (sorted); with `minors`,
/// only the newest patch of each minor between them (the ends kept). An
/// end that is not a known release is one line naming what is.
pub fn versions_between(
    all: &[Release],
    good: Release,
    bad: Release,
    minors: bool,
) -> Result<Vec<Release>> {
    for end in [good, bad] {
        if !all.contains(&end) {
            let same_minor: Vec<String> = all
                .iter()
                .filter(|r| (r.major, r.minor) == (end.major, end.minor))
                .map(Release::to_string)
                .collect();
            match (same_minor.first(), same_minor.last(), all.first(), all.last()) {
                (Some(first), Some(last), _, _) => bail!(
                    "unknown Consul release {end}: the releases of {}.{} are {first} to {last}",
                    end.major,
                    end.minor
                ),
                (_, _, Some(first), Some(last)) => bail!(
                    "unknown Consul release {end}: the known releases are {first} to {last}"
                ),
                _ => bail!("unknown Consul release {end}: no releases are known (the Go module proxy listed none)"),
            }
        }
    }
    let range: Vec<Release> = all
        .iter()
        .copied()
        .filter(|r| *r >= good && *r <= bad)
        .collect();
    if !minors {
        return Ok(range);
    }
    let mut out: Vec<Release> = Vec::new();
    for r in range {
        let same_minor = |x: &Release| (x.major, x.minor) == (r.major, r.minor);
        match out.last() {
            // A later patch of the same minor replaces an earlier one,
            // never the good end.
            Some(prev) if same_minor(prev) && *prev != good => {
                let n = out.len();
                out[n - 1] = r;
            }
            _ => out.push(r),
        }
    }
    // The bad end is the newest of its minor in the range already (the
    // range stops at it), so it is last.
    Ok(out)
}

/// The image `<image>` names, when it has a version axis (Consul).
pub fn image_axis(name: &str) -> Result<()> {
    match ImageId::from_name(name) {
        Some(ImageId::Consul | ImageId::ConsulLegacy) => Ok(()),
        Some(other) => bail!(
            "image `{}` has no release range to bisect here: bisect builds Consul releases, give `consul`",
            other.name()
        ),
        None => bail!("unknown image `{name}`: bisect builds Consul releases, give `consul`"),
    }
}

/// The image whose override the incident's runs read: `consul` or
/// `consul-legacy`, from its requirements.
pub fn consul_image_of(entry: &catalog::Entry) -> Result<ImageId> {
    let needs = |n: &str| entry.requires.iter().any(|r| r == n);
    match (needs("consul"), needs("consul_legacy")) {
        (true, false) => Ok(ImageId::Consul),
        (false, true) => Ok(ImageId::ConsulLegacy),
        (true, true) => bail!(
            "`{}` requires both consul and consul_legacy: bisect swaps one Consul; bisect an incident that runs one",
            entry.name
        ),
        (false, false) => bail!(
            "`{}` runs no Consul (requires = [{}]): bisect an incident that requires consul or consul_legacy",
            entry.name,
            entry.requires.join(", ")
        ),
    }
}

/// Checks everything against the suite and the releases; one line naming
/// the fix for each mistake. Nothing is built; `releases` (the module
/// proxy's list, in `run`) is asked only once everything that needs no
/// network has been checked.
pub fn plan(
    args: &BisectArgs,
    root: &Path,
    releases: impl FnOnce() -> Result<Vec<Release>>,
) -> Result<Plan> {
    image_axis(&args.image)?;
    let (good, bad) = parse_range(&args.range)?;
    let entry = find_incident(root, &args.incident)?;
    let image_id = consul_image_of(&entry)?;
    for pin in &args.pins {
        consul::split_pin(pin)?;
    }
    let versions = versions_between(&releases()?, good, bad, args.minors)?;
    Ok(Plan {
        image: args.image.clone(),
        incident: entry.name.clone(),
        test_path: entry.test_path.clone(),
        image_id,
        versions,
        signature: args.signature.clone(),
        pins: args.pins.clone(),
    })
}

/// The suite's incident called exactly `name` (both variants can be
/// bisected: a before variant's signature appears or disappears as much
/// as an after variant's).
fn find_incident(root: &Path, name: &str) -> Result<catalog::Entry> {
    match catalog::read(root)?.into_iter().find(|e| e.name == name) {
        Some(e) => Ok(e),
        None => bail!(
            "no incident `{name}` in this suite: `incident list` shows them (bisect takes a full name, e.g. roblox_consul_before)"
        ),
    }
}

/// Runs the bisection; prints and writes the record. Exits 0 when the
/// transition is pinned, 2 when it could not be (no transition, an end or
/// the versions around it undecided), 1 on an error.
pub fn run(args: &BisectArgs) -> Result<i32> {
    let root = crate::paths::workspace_root();
    let plan = plan(args, &root, consul::fetch_releases)?;
    let names: Vec<String> = plan.versions.iter().map(Release::to_string).collect();
    let worst = Search::worst_case_builds(names.len());
    println!(
        "bisect {}: {} releases {}..{}, at most {worst} builds: {}",
        plan.incident,
        names.len(),
        names[0],
        names[names.len() - 1],
        names.join(" ")
    );
    // Both ends must be on the proxy before anything is built.
    let mut go_mods: BTreeMap<Release, String> = BTreeMap::new();
    for end in [plan.versions[0], plan.versions[plan.versions.len() - 1]] {
        let go_mod = consul::fetch_go_mod(end)?;
        let recipe = Recipe::for_release(end, &go_mod, &plan.pins)?;
        match consul::fixed_image(end) {
            Some(id) => println!("  {end}: the fixed `{}` image", id.name()),
            None => println!("  {end}: {}", recipe.why),
        }
        go_mods.insert(end, go_mod);
    }
    if args.dry_run {
        return Ok(0);
    }
    let artifacts = crate::paths::artifacts_root();
    let dir = artifacts.join(&plan.incident);
    let kept = dir.join("bisect");
    std::fs::create_dir_all(&kept).with_context(|| format!("creating {}", kept.display()))?;
    super::runs::build_suite(&root)?;
    let mut record = Bisection {
        image: plan.image.clone(),
        incident: plan.incident.clone(),
        override_var: plan.image_id.env_var(),
        signature: plan.signature.clone(),
        good: names[0].clone(),
        bad: names[names.len() - 1].clone(),
        versions: names.clone(),
        worst_case_builds: worst,
        steps: Vec::new(),
        conclusion: None,
    };
    let mut search = Search::new(names);
    let conclusion = loop {
        let (index, why) = match search.next() {
            Next::Test { index, why } => (index, why),
            Next::Done(c) => break c,
        };
        let release = plan.versions[index];
        println!(
            "bisect {}: step {}: {release} ({why})",
            plan.incident,
            record.steps.len() + 1
        );
        let step = test_release(&plan, &root, &kept, release, &mut go_mods, why)?;
        println!(
            "bisect {}: {release}: signature {} ({}), build {} {:.0}s, run {:.0}s",
            plan.incident,
            step.seen,
            step.detail,
            step.build.status,
            step.build.secs,
            step.run_secs
        );
        search.record(index, step.seen);
        record.steps.push(Step {
            n: record.steps.len() + 1,
            ..step
        });
        write(&dir, &record)?;
    };
    record.conclusion = Some(conclusion.clone());
    write(&dir, &record)?;
    println!("{}", record.markdown());
    println!(
        "written: {} (and .json)",
        dir.join(crate::report::bisect::BISECT_MD).display()
    );
    Ok(match conclusion {
        crate::report::bisect::Conclusion::Transition { .. } => 0,
        _ => 2,
    })
}

/// Builds and runs one release; a release that cannot be fetched, built
/// or run to a verdict is [`Seen::Inconclusive`] with the reason, not an
/// error (the search skips it). Only a missing Docker stops the whole
/// bisection.
fn test_release(
    plan: &Plan,
    root: &Path,
    kept: &Path,
    release: Release,
    go_mods: &mut BTreeMap<Release, String>,
    why: String,
) -> Result<Step> {
    let mut step = Step {
        n: 0,
        version: release.to_string(),
        why,
        seen: Seen::Inconclusive,
        detail: String::new(),
        build: Build {
            image: release.image(),
            status: "not built".into(),
            secs: 0.0,
            recipe: String::new(),
        },
        run_secs: 0.0,
        report: None,
    };
    let go_mod = match go_mods.get(&release) {
        Some(text) => text.clone(),
        None => match consul::fetch_go_mod(release) {
            Ok(text) => {
                go_mods.insert(release, text.clone());
                text
            }
            Err(e) => {
                step.detail = format!("no go.mod: {e:#}");
                return Ok(step);
            }
        },
    };
    let recipe = match Recipe::for_release(release, &go_mod, &plan.pins) {
        Ok(r) => r,
        Err(e) => {
            step.detail = format!("no recipe: {e:#}");
            return Ok(step);
        }
    };
    step.build.recipe = match consul::fixed_image(release) {
        Some(id) => format!("the fixed `{}` image's own recipe", id.name()),
        None => recipe.why.clone(),
    };
    let built = build::consul_release(&recipe, false)?;
    step.build.image = built.reference.clone();
    step.build.status = built.status.word().into();
    step.build.secs = built.duration.as_secs_f64();
    if let build::Status::Failed(why) = &built.status {
        let first: String = why.lines().next().unwrap_or("").chars().take(200).collect();
        step.detail = format!("build failed: {first}");
        return Ok(step);
    }
    let run_root = kept.join(release.to_string());
    let env = [(plan.image_id.env_var(), built.reference.clone())];
    let started = std::time::Instant::now();
    let (code, report) =
        super::runs::run_once_with(root, &plan.incident, &plan.test_path, "", &run_root, &env)?;
    step.run_secs = started.elapsed().as_secs_f64();
    match report {
        Some(r) => {
            let (seen, detail) = Seen::from_report(&r, plan.signature.as_deref());
            step.seen = seen;
            step.detail = detail;
            step.report = Some(
                run_root
                    .join(&plan.incident)
                    .join("report.json")
                    .display()
                    .to_string(),
            );
        }
        None => step.detail = format!("the run left no report (exit {code})"),
    }
    Ok(step)
}

fn write(dir: &Path, record: &Bisection) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(crate::report::bisect::BISECT_MD),
        record.markdown(),
    )?;
    std::fs::write(
        dir.join(crate::report::bisect::BISECT_JSON),
        serde_json::to_string_pretty(record)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Release {
        Release::parse(s).unwrap()
    }

    fn known() -> Vec<Release> {
        consul::with_known("")
    }

    fn args(image: &str, range: &str, incident: &str) -> BisectArgs {
        BisectArgs {
            image: image.into(),
            range: range.into(),
            incident: incident.into(),
            signature: None,
            pins: Vec::new(),
            minors: false,
            dry_run: true,
        }
    }

    fn root() -> std::path::PathBuf {
        crate::paths::workspace_root()
    }

    #[test]
    fn a_range_is_two_releases_the_older_first() {
        assert_eq!(
            parse_range("1.10.12..1.22.6").unwrap(),
            (r("1.10.12"), r("1.22.6"))
        );
        assert_eq!(parse_range("v1.9.17..v1.10.0").unwrap().1, r("1.10.0"));
        let e = |t: &str| format!("{:#}", parse_range(t).unwrap_err());
        let m = e("1.22.6..1.10.12");
        assert!(
            m.contains("good 1.22.6 is not older than bad 1.10.12")
                && m.contains("1.10.12..1.22.6"),
            "{m}"
        );
        assert!(e("1.16.3..1.16.3").contains("both ends are 1.16.3"));
        assert!(e("1.16.3-1.17.0").contains("<good>..<bad>"));
        let m = e("1.11.0-rc1..1.12.0");
        assert!(
            m.contains("good end") && m.contains("not a release version"),
            "{m}"
        );
        for t in [
            "1.22.6..1.10.12",
            "1.16.3..1.16.3",
            "x",
            "1.11.0-rc1..1.12.0",
        ] {
            assert!(!e(t).contains('\n'), "{t}: {}", e(t));
        }
    }

    #[test]
    fn the_versions_of_a_range_are_the_releases_between_its_ends() {
        let all = known();
        let v = versions_between(&all, r("1.19.2"), r("1.20.6"), false).unwrap();
        let names: Vec<String> = v.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            names,
            ["1.19.2", "1.20.0", "1.20.1", "1.20.2", "1.20.3", "1.20.4", "1.20.5", "1.20.6"]
        );
        let whole = versions_between(&all, r("1.10.12"), r("1.22.6"), false).unwrap();
        assert_eq!(whole.len(), 96);
        assert_eq!(Search::worst_case_builds(whole.len()), 9);
        let e = versions_between(&all, r("1.16.9"), r("1.22.6"), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unknown Consul release 1.16.9: the releases of 1.16 are 1.16.0 to 1.16.7"
        );
        let e = versions_between(&all, r("1.10.12"), r("1.30.0"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the known releases are 1.10.0 to 1.22.7"), "{e}");
    }

    #[test]
    fn minors_keep_the_ends_and_the_newest_patch_of_each_minor() {
        let all = known();
        let v = versions_between(&all, r("1.10.12"), r("1.22.6"), true).unwrap();
        let names: Vec<String> = v.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            names,
            [
                "1.10.12", "1.11.11", "1.12.9", "1.13.9", "1.14.11", "1.15.11", "1.16.7", "1.17.4",
                "1.18.2", "1.19.2", "1.20.6", "1.21.5", "1.22.6"
            ]
        );
        assert_eq!(Search::worst_case_builds(v.len()), 6);
        // A good end that is not its minor's newest stays the good end.
        let v = versions_between(&all, r("1.20.0"), r("1.21.2"), true).unwrap();
        let names: Vec<String> = v.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["1.20.0", "1.20.6", "1.21.2"]);
    }

    #[test]
    fn the_plan_follows_the_incidents_consul_requirement() {
        let p = plan(
            &args("consul", "1.10.12..1.22.6", "roblox_consul_before"),
            &root(),
            || Ok(known()),
        )
        .unwrap();
        assert_eq!(p.image_id, ImageId::ConsulLegacy);
        assert_eq!(p.image_id.env_var(), "INCIDENT_IMAGE_CONSUL_LEGACY");
        assert_eq!(p.test_path, "incidents::roblox::roblox_consul_before");
        assert_eq!(p.versions.len(), 96);
        let p = plan(
            &args("consul-legacy", "1.19.2..1.20.6", "aws_s3_2017_before"),
            &root(),
            || Ok(known()),
        )
        .unwrap();
        assert_eq!(p.image_id, ImageId::Consul);
        assert_eq!(p.versions.len(), 8);
    }

    #[test]
    fn bad_input_is_one_line_naming_the_fix_before_anything_is_built() {
        let e = |a: BisectArgs| format!("{:#}", plan(&a, &root(), || Ok(known())).unwrap_err());
        let cases = [
            (
                args("consull", "1.10.12..1.22.6", "roblox_consul_before"),
                "unknown image `consull`",
            ),
            (
                args("toxiproxy", "1.10.12..1.22.6", "roblox_consul_before"),
                "image `toxiproxy` has no release range",
            ),
            (
                args("consul", "1.22.6..1.10.12", "roblox_consul_before"),
                "is not older than bad",
            ),
            (
                args("consul", "1.10.13..1.22.6", "roblox_consul_before"),
                "unknown Consul release 1.10.13",
            ),
            (
                args("consul", "1.10.12..1.22.6", "roblox_2021"),
                "no incident `roblox_2021`",
            ),
            (
                args(
                    "consul",
                    "1.10.12..1.22.6",
                    "smoke_two_nodes_reach_each_other",
                ),
                "runs no Consul",
            ),
            (
                BisectArgs {
                    pins: vec!["github.com/hashicorp/consul/api".into()],
                    ..args("consul", "1.10.12..1.22.6", "roblox_consul_before")
                },
                "not module@version",
            ),
        ];
        for (a, needle) in cases {
            let m = e(a);
            assert!(m.contains(needle), "{needle} missing in: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }

    #[test]
    fn the_release_list_is_asked_only_after_the_offline_checks() {
        let asked = std::cell::Cell::new(false);
        let list = || {
            asked.set(true);
            Ok(known())
        };
        let bad_order = args("consul", "1.22.6..1.10.12", "roblox_consul_before");
        assert!(plan(&bad_order, &root(), list).is_err());
        assert!(
            !asked.get(),
            "a bad range fails before the network is asked"
        );
        let unreachable = || anyhow::bail!("the Go module proxy cannot be reached");
        let good = args("consul", "1.10.12..1.22.6", "roblox_consul_before");
        let e = format!("{:#}", plan(&good, &root(), unreachable).unwrap_err());
        assert!(e.contains("cannot be reached"), "{e}");
    }
}
