//! `incident new <name> --from postmortem.toml`: turns a postmortem dossier
//! (TOML, see `docs/postmortem-toml.md`) into the shape every real incident
//! has:
//! - the scenario, `scenarios/src/<name>.rs`: `run(lab, scale)` reading the
//!   variant from the lab's spec, a short sequence of the timeline's phases
//!   with dated marks, one helper per phase holding that phase's faults
//!   and mitigations (`if fixed { .. }`), and a `judge` for the checks;
//! - the tests, `tests/incidents/<name>.rs`: the before and after
//!   `#[incident]`s calling it;
//! - the markdown dossier `postmortems/<id>.md`, unless one exists;
//! - the TOML dossier itself at `postmortems/<id>.toml`, where the runner
//!   reads it (mitigation names, budget), when `--from` names another file.
//!
//! Both `mod` lines are added in order and the Rust files are formatted
//! with rustfmt, so `cargo fmt --check` stays clean. The skeleton compiles
//! and runs, but records no check, so both variants fail ("no signature
//! check was recorded") until someone fills the places marked `FILL:`. A
//! skeleton never passes silently.
//!
//! One concept, one file: one dossier rendered into the three files of an
//! incident (the templates live in `harness/templates/`); a quarter of it
//! is tests.

use crate::postmortem::Dossier;
use crate::spec::Variant;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of `incident new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The incident's name (snake_case), e.g. `acme_2024_cache_stampede`.
    pub name: String,
    /// The postmortem as TOML.
    #[arg(long)]
    pub from: PathBuf,
    /// Where to write the generated files (default: the workspace root).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// The files `incident new` writes, relative to the output root.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// `scenarios/src/<name>.rs`.
    pub scenario: String,
    /// `tests/incidents/<name>.rs`.
    pub test: String,
    /// `postmortems/<id>.md`.
    pub dossier_md: String,
}

/// The timeout of a dossier that names none.
pub const DEFAULT_TIMEOUT: &str = "6m";

const SCENARIO_TEMPLATE: &str = include_str!("../../templates/scenario.rs.tmpl");
const INCIDENT_TEMPLATE: &str = include_str!("../../templates/incident.rs.tmpl");
const DOSSIER_TEMPLATE: &str = include_str!("../../templates/dossier.md.tmpl");

/// Generates the incident skeleton; returns the process exit code.
pub fn run(args: &NewArgs) -> Result<i32> {
    check_name(&args.name)?;
    let dossier = Dossier::load(&args.from)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(crate::paths::workspace_root);
    let generated = generate(&args.name, &dossier, &args.from.display().to_string());
    let scenario_path = out.join("scenarios/src").join(format!("{}.rs", args.name));
    let test_path = out
        .join("tests/incidents")
        .join(format!("{}.rs", args.name));
    let md_path = out.join("postmortems").join(format!("{}.md", dossier.id));
    // The runner reads the dossier (its mitigation names, budget) from
    // `postmortems/<id>.toml`: a dossier kept elsewhere is copied there.
    let toml_path = out.join("postmortems").join(format!("{}.toml", dossier.id));
    let toml_text = std::fs::read_to_string(&args.from)
        .with_context(|| format!("reading {}", args.from.display()))?;
    let toml_action = dossier_copy(&toml_path, &toml_text, args.force)?;
    // Checked before anything is written: nothing half-made.
    for p in [&scenario_path, &test_path] {
        if p.exists() && !args.force {
            bail!(
                "{} already exists: pick another name or pass --force to overwrite it",
                p.display()
            );
        }
    }
    write(&scenario_path, &generated.scenario)?;
    write(&test_path, &generated.test)?;
    println!("wrote {}", scenario_path.display());
    println!("wrote {}", test_path.display());
    match toml_action {
        DossierCopy::Present => {}
        DossierCopy::Write => {
            write(&toml_path, &toml_text)?;
            println!(
                "wrote {} (the runner reads the dossier there)",
                toml_path.display()
            );
        }
    }
    if md_path.exists() {
        println!("kept {} (the dossier's prose)", md_path.display());
    } else {
        write(&md_path, &generated.dossier_md)?;
        println!("wrote {}", md_path.display());
    }
    format_rust(&[&scenario_path, &test_path]);
    for (file, line, block) in [
        (
            out.join("scenarios/src/lib.rs"),
            format!("pub mod {};", args.name),
            None,
        ),
        (
            out.join("tests/incidents.rs"),
            format!("mod {};", args.name),
            Some("mod incidents {"),
        ),
    ] {
        if file.exists() {
            if register(&file, &line, block)? {
                println!("registered `{line}` in {}", file.display());
            }
        } else {
            println!("add `{line}` to {} to compile it", file.display());
        }
    }
    // Its `tags = [heavy]` put it in the heavy nextest group.
    if out.join(".config/nextest.toml").exists() {
        crate::cli::groups::regenerate(&out, false)?;
    }
    println!(
        "next: fill the places marked FILL: in {}; until then both variants fail (no check recorded)",
        scenario_path.display()
    );
    Ok(0)
}

/// Formats the generated files as `cargo fmt` would (edition 2021); a
/// missing rustfmt leaves them as generated, with a line saying so.
fn format_rust(files: &[&Path]) {
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(files)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!("rustfmt did not run: format the generated files with `cargo fmt`");
    }
}

/// What becomes of the dossier's TOML at `postmortems/<id>.toml`.
#[derive(Debug, PartialEq)]
enum DossierCopy {
    /// The same text is already there (`--from` names it, usually).
    Present,
    /// Write it there.
    Write,
}

/// Decides, before anything is written, whether the dossier's text goes to
/// `path`: another dossier already there is refused unless `force`.
fn dossier_copy(path: &Path, text: &str, force: bool) -> Result<DossierCopy> {
    match std::fs::read_to_string(path) {
        Ok(there) if there == text => Ok(DossierCopy::Present),
        Ok(_) if !force => bail!(
            "{} already exists and differs from the dossier given with --from: the runner reads that file, so merge the two or pass --force to overwrite it",
            path.display()
        ),
        _ => Ok(DossierCopy::Write),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Rejects names that are not a Rust identifier in snake_case.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a snake_case name: use lowercase letters, digits and `_`, starting with a letter (e.g. `acme_2024_cache_stampede`)"
        );
    }
    Ok(())
}

/// Adds `line` (`mod <name>;`, `pub mod <name>;`) to `file`, among the
/// other `mod` lines in name order (as rustfmt orders them), inside
/// `block` (`mod incidents {`) if given; false if it is already there.
fn register(file: &Path, line: &str, block: Option<&str>) -> Result<bool> {
    let text = std::fs::read_to_string(file)?;
    if text.lines().any(|l| l.trim() == line) {
        return Ok(false);
    }
    let (start, end, indent) = match block {
        Some(open) => {
            let Some(at) = text.find(open) else {
                bail!(
                    "{} has no `{open}` block: add `{line}` to it by hand",
                    file.display()
                );
            };
            let Some(close) = text[at..].find("\n}") else {
                bail!("{}: `{open}` is not closed", file.display());
            };
            (at + open.len() + 1, at + close + 1, "    ")
        }
        None => (0, text.len(), ""),
    };
    let prefix = line.rsplit_once(' ').map(|(p, _)| p).unwrap_or("mod");
    let name = |l: &str| -> Option<String> {
        let rest = l.trim().strip_prefix(prefix)?.trim();
        Some(rest.strip_suffix(';')?.to_string())
    };
    let new_name = name(line).unwrap_or_default();
    // Before the first `mod` line whose name sorts after the new one, else
    // after the last `mod` line, else at the end of the span.
    let mut insert_at = None;
    let mut after_last = None;
    let mut offset = start;
    for l in text[start..end].split_inclusive('\n') {
        if let Some(n) = name(l) {
            if n > new_name && insert_at.is_none() {
                insert_at = Some(offset);
            }
            after_last = Some(offset + l.len());
        }
        offset += l.len();
    }
    let at = insert_at.or(after_last).unwrap_or(end);
    let mut updated = text[..at].to_string();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&format!("{indent}{line}\n"));
    updated.push_str(&text[at..]);
    std::fs::write(file, updated)?;
    Ok(true)
}

/// `requires = [..],` on its own attribute line, or nothing.
fn requires_line(requires: &[String]) -> String {
    if requires.is_empty() {
        String::new()
    } else {
        format!("\n    requires = [{}],", requires.join(", "))
    }
}

fn or_docker(requires: &[String]) -> String {
    if requires.is_empty() {
        "docker".into()
    } else {
        requires.join(", ")
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Renders the test skeleton and the markdown dossier.
pub fn generate(name: &str, d: &Dossier, from: &str) -> Generated {
    let timeout = d
        .timeout
        .clone()
        .unwrap_or_else(|| DEFAULT_TIMEOUT.to_string());
    let span = crate::duration::format(d.span());
    let shape = phases(d);
    let vars: Vec<(&str, String)> = vec![
        ("name", name.to_string()),
        ("id", d.id.clone()),
        ("title", one_line(&d.title)),
        ("date", d.date.clone()),
        ("from", from.to_string()),
        ("systems", d.systems.join(", ")),
        ("budget", d.budget.clone()),
        ("timeout", timeout.clone()),
        (
            "requires_before_line",
            requires_line(d.requires_for(Variant::Before)),
        ),
        (
            "requires_after_line",
            requires_line(d.requires_for(Variant::After)),
        ),
        ("span", span),
        ("run_steps", shape.run_steps),
        ("standing", shape.standing),
        ("phase_helpers", shape.phase_helpers),
        (
            "requires_md",
            match &d.requires_before {
                Some(before) if *before != d.requires => {
                    format!("{} (before: {})", or_docker(&d.requires), or_docker(before))
                }
                _ => or_docker(&d.requires),
            },
        ),
        (
            "summary",
            if d.summary.trim().is_empty() {
                "(not written yet)".into()
            } else {
                d.summary.trim().to_string()
            },
        ),
        ("timeline_rows", timeline_rows(d)),
        ("mitigation_items", mitigation_items(d)),
        ("mitigation_count", d.mitigation_names().len().to_string()),
        (
            "mitigation_names",
            d.mitigation_names()
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "source_items",
            if d.sources.is_empty() {
                "- (none listed)".into()
            } else {
                d.sources
                    .iter()
                    .map(|s| format!("- {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        ),
    ];
    Generated {
        scenario: fill(SCENARIO_TEMPLATE, &vars),
        test: fill(INCIDENT_TEMPLATE, &vars),
        dossier_md: fill(DOSSIER_TEMPLATE, &vars),
    }
}

fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The scenario's shape, as code: the top-level sequence, the standing
/// fixes, and one helper per phase.
struct Shape {
    run_steps: String,
    standing: String,
    phase_helpers: String,
}

/// One phase of the timeline: the entries in it and the timed fixes that
/// fall in its span.
struct Phase<'a> {
    name: String,
    helper: String,
    entries: Vec<&'a crate::postmortem::TimelineEntry>,
    fixes: Vec<&'a crate::postmortem::Mitigation>,
}

/// A Rust function name for a phase: snake_case, never a keyword or a
/// leading digit, unique among `taken`.
fn helper_name(phase: &str, taken: &[String]) -> String {
    let mut n: String = phase
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    const KEYWORDS: &[&str] = &[
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "run",
        "judge",
        "start_system",
    ];
    if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) {
        n = format!("phase_{n}");
    } else if KEYWORDS.contains(&n.as_str()) {
        n = format!("{n}_phase");
    }
    let base = n.clone();
    let mut i = 2;
    while taken.contains(&n) {
        n = format!("{base}_{i}");
        i += 1;
    }
    n
}

/// The timeline cut into phases (an entry without a phase stays in the
/// previous one; `steady` opens the run if the first entry names none),
/// each timed fix placed in the phase whose span holds its time (a fix
/// before the first entry goes to the first phase, one after the last to
/// the last).
fn split_phases(d: &Dossier) -> Vec<Phase<'_>> {
    let mut phases: Vec<Phase> = Vec::new();
    for e in &d.timeline {
        let opens = match (&e.phase, phases.is_empty()) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => Some("steady".to_string()),
            (None, false) => None,
        };
        if let Some(name) = opens {
            let taken: Vec<String> = phases.iter().map(|p| p.helper.clone()).collect();
            phases.push(Phase {
                helper: helper_name(&name, &taken),
                name,
                entries: Vec::new(),
                fixes: Vec::new(),
            });
        }
        if let Some(p) = phases.last_mut() {
            p.entries.push(e);
        }
    }
    let starts: Vec<Duration> = phases
        .iter()
        .map(|p| p.entries[0].offset_duration())
        .collect();
    for m in d.mitigations.iter().filter(|m| m.after) {
        let Some(at) = m.at.as_deref() else { continue };
        let at = crate::duration::parse(at).unwrap_or_default();
        let i = starts.iter().rposition(|s| *s <= at).unwrap_or(0);
        if let Some(p) = phases.get_mut(i) {
            p.fixes.push(m);
        }
    }
    phases
}

fn phases(d: &Dossier) -> Shape {
    let phases = split_phases(d);
    let mut run_steps = String::new();
    let mut helpers = String::new();
    let mut fault_no = 0;
    for p in &phases {
        run_steps.push_str(&format!("\n    lab.phase({:?}).await;\n", p.name));
        for e in &p.entries {
            run_steps.push_str(&format!(
                "    lab.mark(None, {:?});\n",
                format!("{}: {}", e.offset, one_line(&e.what))
            ));
        }
        run_steps.push_str(&format!("    {}(lab, &scale).await?;\n", p.helper));

        let mut body = String::new();
        for e in p.entries.iter().filter(|e| e.fault.is_some()) {
            fault_no += 1;
            let kind = e.fault.as_deref().unwrap_or_default();
            body.push_str(&format!(
                "    // FILL: inject the `{kind}` fault of {} (a harness::fault kind, or\n    \
                 // your own `impl Fault`), let the workload run, then heal it:\n    \
                 //   let fault_{fault_no} = lab.inject(/* {kind} fault */).await?;\n    \
                 //   ...\n    \
                 //   fault_{fault_no}.heal().await?;\n",
                e.offset
            ));
        }
        for m in &p.fixes {
            body.push_str(&format!(
                "    if lab.mitigated({:?}) {{\n        \
                 // FILL: apply the fix ({} into the outage):\n        \
                 lab.mitigation({:?});\n    \
                 }}\n",
                m.name.as_deref().unwrap_or_default(),
                m.at.as_deref().unwrap_or("-"),
                one_line(&m.what)
            ));
        }
        if p.fixes.is_empty() {
            body.push_str("    let _ = lab;\n");
        }
        helpers.push_str(&format!(
            "\n/// `{}`: {}\nasync fn {}(lab: &LabCtx, scale: &Scale) -> Result<()> {{\n{body}    tokio::time::sleep(scale.phase).await;\n    Ok(())\n}}\n",
            p.name,
            one_line(&p.entries[0].what),
            p.helper
        ));
    }
    let mut standing = String::new();
    for m in d.mitigations.iter().filter(|m| m.after && m.at.is_none()) {
        standing.push_str(&format!(
            "    if lab.mitigated({:?}) {{\n        \
             // FILL: configure this fix in the system started above:\n        \
             lab.mitigation({:?});\n    \
             }}\n",
            m.name.as_deref().unwrap_or_default(),
            one_line(&m.what)
        ));
    }
    if standing.is_empty() {
        standing.push_str("    let _ = lab;\n");
    }
    Shape {
        run_steps: run_steps.trim_start_matches('\n').trim_end().to_string(),
        standing,
        phase_helpers: helpers,
    }
}

fn timeline_rows(d: &Dossier) -> String {
    d.timeline
        .iter()
        .map(|e| {
            format!(
                "| {} | {} | {} | {} |",
                e.offset,
                e.phase.as_deref().unwrap_or(""),
                one_line(&e.what).replace('|', "\\|"),
                e.fault.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn mitigation_items(d: &Dossier) -> String {
    if d.mitigations.is_empty() {
        return "- (none listed)".into();
    }
    d.mitigations
        .iter()
        .map(|m| {
            let mut s = format!("- {}", one_line(&m.what));
            if let Some(at) = &m.at {
                s.push_str(&format!(" (at {at})"));
            }
            if m.after {
                s.push_str(" *(after)*");
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The five seed dossiers shipped in `postmortems/`.
pub const SEED_DOSSIERS: &[&str] = &[
    "foursquare-2010-mongodb-shards",
    "leancloud-2015-06-mongodb",
    "leancloud-2015-08-chat",
    "roblox-2021-consul",
    "weibo-2017-hot-key",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(id: &str) -> Dossier {
        let path = crate::paths::workspace_root()
            .join("postmortems")
            .join(format!("{id}.toml"));
        Dossier::load(&path).unwrap()
    }

    /// A fresh scratch directory, removed by the caller.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("incident-new-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_dossier_given_from_elsewhere_is_placed_where_the_runner_reads_it() {
        // The history: `incident new --from ~/acme.toml` wrote the skeleton
        // but not the TOML, so the runner found no dossier, knew no
        // mitigation names, and the unedited skeleton's first
        // `lab.mitigated(..)` panicked "(it names: none)".
        let out = scratch("copy");
        let from = out.join("elsewhere/roblox.toml");
        std::fs::create_dir_all(from.parent().unwrap()).unwrap();
        let seed_path = crate::paths::workspace_root().join("postmortems/roblox-2021-consul.toml");
        let text = std::fs::read_to_string(&seed_path).unwrap();
        std::fs::write(&from, &text).unwrap();
        let args = |force| NewArgs {
            name: "roblox_copy".into(),
            from: from.clone(),
            out: Some(out.clone()),
            force,
        };
        assert_eq!(run(&args(false)).unwrap(), 0);
        let placed = out.join("postmortems/roblox-2021-consul.toml");
        assert_eq!(std::fs::read_to_string(&placed).unwrap(), text);
        // The same dossier again (with --force for the Rust files): kept.
        assert_eq!(
            dossier_copy(&placed, &text, false).unwrap(),
            DossierCopy::Present
        );
        assert_eq!(run(&args(true)).unwrap(), 0);
        // Another dossier under the same id: refused before anything is
        // written, unless --force.
        std::fs::write(&from, format!("{text}\n# edited\n")).unwrap();
        std::fs::remove_file(out.join("scenarios/src/roblox_copy.rs")).unwrap();
        let err = run(&args(false)).unwrap_err().to_string();
        assert!(
            err.contains("differs from the dossier") && err.contains("--force"),
            "{err}"
        );
        assert!(
            !out.join("scenarios/src/roblox_copy.rs").exists(),
            "nothing written after the refusal"
        );
        assert_eq!(
            std::fs::read_to_string(&placed).unwrap(),
            text,
            "the one there is kept"
        );
        assert_eq!(run(&args(true)).unwrap(), 0);
        assert!(std::fs::read_to_string(&placed)
            .unwrap()
            .ends_with("# edited\n"));
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn every_seed_dossier_parses_and_generates() {
        for id in SEED_DOSSIERS {
            let d = seed(id);
            assert_eq!(&d.id, id);
            let name = id.replace('-', "_");
            let g = generate(&name, &d, "x.toml");
            assert!(!g.test.contains("{{"), "unfilled placeholder in {id}");
            assert!(g
                .test
                .contains(&format!("async fn {name}_before(lab: &mut Lab)")));
            assert!(g
                .test
                .contains(&format!("async fn {name}_after(lab: &mut Lab)")));
            assert!(g.test.contains(&format!("postmortem = \"{id}\"")));
            assert!(!g.scenario.contains("{{"), "unfilled placeholder in {id}");
            assert!(g.test.contains(&format!("{name}::run(lab, Scale::ci())")));
            assert!(g.scenario.contains("judge(lab);"));
            assert!(!g.scenario.contains("fixed"), "{id}: no variant flag");
            for p in d.phases() {
                assert!(
                    g.scenario.contains(&format!("lab.phase({p:?})")),
                    "{id}: {p}"
                );
            }
            // Every dated entry is a mark, every fix a mitigation, in order.
            for e in &d.timeline {
                assert!(g.scenario.contains(&format!("{}: ", e.offset)), "{id}");
            }
            for m in d.mitigations.iter().filter(|m| m.after) {
                assert!(
                    g.scenario
                        .contains(&format!("lab.mitigation({:?})", one_line(&m.what))),
                    "{id}: fix `{}` dropped",
                    m.what
                );
                let name = m.name.as_deref().unwrap();
                assert!(
                    g.scenario.contains(&format!("lab.mitigated({name:?})"))
                        && g.scenario.contains(&format!("{name:?}, "))
                            | g.scenario.contains(&format!("{name:?}]")),
                    "{id}: fix `{name}` not asked for by name, or not in MITIGATIONS"
                );
            }
            // The skeleton records no check, so it cannot pass.
            for text in [&g.test, &g.scenario] {
                let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
                assert!(code.clone().all(|l| !l.contains("lab.check(")), "{id}");
            }
            assert!(g.dossier_md.contains(&d.title));
        }
    }

    /// Both variants used to get the dossier's one `requires`, so Roblox's
    /// before asked for the current Consul it does not run.
    #[test]
    fn each_variant_gets_its_own_requirements() {
        let g = generate("roblox_2021", &seed("roblox-2021-consul"), "x.toml");
        let before = g.test.find("variant = before").unwrap();
        let after = g.test.find("variant = after").unwrap();
        assert!(
            g.test[before..after].contains("requires = [consul_legacy],"),
            "{}",
            g.test
        );
        assert!(
            g.test[after..].contains("requires = [consul],"),
            "{}",
            g.test
        );
        assert!(
            g.dossier_md
                .contains("Requires: consul (before: consul_legacy)"),
            "{}",
            g.dossier_md
        );
    }

    #[test]
    fn names_must_be_snake_case() {
        assert!(check_name("acme_2024_cache").is_ok());
        let e = check_name("Acme-Cache").unwrap_err().to_string();
        assert!(e.contains("snake_case"), "{e}");
    }

    #[test]
    fn helper_names_are_functions_and_unique() {
        assert_eq!(helper_name("fault", &[]), "fault");
        assert_eq!(helper_name("fault", &["fault".into()]), "fault_2");
        assert_eq!(helper_name("loop", &[]), "loop_phase");
        assert_eq!(helper_name("2nd restart", &[]), "phase_2nd_restart");
        assert_eq!(helper_name("Re-Open", &[]), "re_open");
    }

    #[test]
    fn a_fix_after_the_last_entry_or_before_the_first_is_kept() {
        let text = r#"
id = "acme"
title = "t"
date = "2024-01-01"
systems = ["x"]
budget = "30s"
[[timeline]]
offset = "10m"
what = "it broke"
phase = "fault"
[[timeline]]
offset = "1h"
what = "restarted"
phase = "mitigate"
[[mitigations]]
name = "early_fix"
what = "early fix"
at = "1m"
after = true
[[mitigations]]
name = "late_fix"
what = "late fix"
at = "5h"
after = true
"#;
        let d = Dossier::parse(text, Path::new("acme.toml")).unwrap();
        let phases = split_phases(&d);
        let fixes =
            |i: usize| -> Vec<&str> { phases[i].fixes.iter().map(|m| m.what.as_str()).collect() };
        assert_eq!(fixes(0), ["early fix"]);
        assert_eq!(fixes(1), ["late fix"]);
    }

    #[test]
    fn registering_adds_a_mod_line_once_in_name_order() {
        let dir = std::env::temp_dir().join(format!("incident-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let suite = dir.join("incidents.rs");
        std::fs::write(
            &suite,
            "//! x\nmod incidents {\n    mod chat;\n    mod roblox;\n}\n",
        )
        .unwrap();
        let block = Some("mod incidents {");
        assert!(register(&suite, "mod acme;", block).unwrap());
        assert!(!register(&suite, "mod acme;", block).unwrap());
        assert!(register(&suite, "mod zeta;", block).unwrap());
        assert!(register(&suite, "mod echo;", block).unwrap());
        let text = std::fs::read_to_string(&suite).unwrap();
        assert_eq!(
            text,
            "//! x\nmod incidents {\n    mod acme;\n    mod chat;\n    mod echo;\n    mod roblox;\n    mod zeta;\n}\n"
        );
        let empty = dir.join("empty.rs");
        std::fs::write(&empty, "mod incidents {\n}\n").unwrap();
        assert!(register(&empty, "mod acme;", block).unwrap());
        assert_eq!(
            std::fs::read_to_string(&empty).unwrap(),
            "mod incidents {\n    mod acme;\n}\n"
        );
        let lib = dir.join("lib.rs");
        std::fs::write(&lib, "//! docs\n\npub mod chat;\npub mod weibo;\n").unwrap();
        assert!(register(&lib, "pub mod roblox;", None).unwrap());
        assert_eq!(
            std::fs::read_to_string(&lib).unwrap(),
            "//! docs\n\npub mod chat;\npub mod roblox;\npub mod weibo;\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
