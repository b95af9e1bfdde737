//! `incident new <name> --from postmortem.toml`: turns a postmortem dossier
//! (TOML, see `docs/postmortem-toml.md`) into a before/after incident test
//! skeleton (`tests/incidents/<name>.rs`) and a markdown dossier
//! (`postmortems/<name>.md`).
//!
//! The skeleton compiles and runs, but records no check, so both variants
//! fail ("no signature check was recorded") until someone fills the places
//! marked `FILL:`. A skeleton never passes silently.

use crate::postmortem::Dossier;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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
    /// `tests/incidents/<name>.rs`.
    pub test: String,
    /// `postmortems/<name>.md`.
    pub dossier_md: String,
}

/// The timeout of a dossier that names none.
pub const DEFAULT_TIMEOUT: &str = "6m";

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
    let test_path = out
        .join("tests/incidents")
        .join(format!("{}.rs", args.name));
    let md_path = out.join("postmortems").join(format!("{}.md", args.name));
    for p in [&test_path, &md_path] {
        if p.exists() && !args.force {
            bail!(
                "{} already exists: pick another name or pass --force to overwrite it",
                p.display()
            );
        }
    }
    write(&test_path, &generated.test)?;
    write(&md_path, &generated.dossier_md)?;
    println!("wrote {}", test_path.display());
    println!("wrote {}", md_path.display());
    let suite = out.join("tests/incidents.rs");
    if suite.exists() {
        if register(&suite, &args.name)? {
            println!("registered `mod {};` in {}", args.name, suite.display());
        }
    } else {
        println!(
            "add `mod {};` to the suite's `mod incidents {{ .. }}` to compile it",
            args.name
        );
    }
    println!(
        "next: fill the places marked FILL: in {}; until then both variants fail (no check recorded)",
        test_path.display()
    );
    Ok(0)
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

/// Adds `mod <name>;` to the suite's `mod incidents { .. }` block; false if
/// it is already there.
fn register(suite: &Path, name: &str) -> Result<bool> {
    let text = std::fs::read_to_string(suite)?;
    let line = format!("mod {name};");
    if text.lines().any(|l| l.trim() == line) {
        return Ok(false);
    }
    let Some(block) = text.find("mod incidents {") else {
        bail!(
            "{} has no `mod incidents {{` block: add `{line}` to it by hand",
            suite.display()
        );
    };
    let Some(close) = text[block..].find("\n}") else {
        bail!("{}: `mod incidents {{` is not closed", suite.display());
    };
    let at = block + close;
    let updated = format!("{}\n    {line}{}", &text[..at], &text[at..]);
    std::fs::write(suite, updated)?;
    Ok(true)
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
            "requires_line",
            if d.requires.is_empty() {
                String::new()
            } else {
                format!("\n    requires = [{}],", d.requires.join(", "))
            },
        ),
        ("span", span),
        ("steps", steps(d)),
        (
            "requires_md",
            if d.requires.is_empty() {
                "docker".into()
            } else {
                d.requires.join(", ")
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

/// The timeline as code: a phase per entry that opens one, a mark per
/// entry, a `FILL:` per fault, and the mitigations where they happened.
fn steps(d: &Dossier) -> String {
    let indent = "        ";
    let mut out = String::new();
    let mut mitigations: Vec<_> = d.mitigations.iter().filter(|m| m.after).collect();
    let first_phase_missing = d.timeline.first().is_some_and(|e| e.phase.is_none());
    if first_phase_missing {
        out.push_str(&format!("{indent}lab.phase(\"steady\").await;\n"));
    }
    // Mitigations without a time are part of the after configuration.
    let standing: Vec<_> = mitigations.iter().filter(|m| m.at.is_none()).collect();
    if !standing.is_empty() {
        out.push_str(&format!(
            "{indent}if matches!(variant, Variant::After) {{\n"
        ));
        for m in standing {
            out.push_str(&format!(
                "{indent}    // FILL: have this fix in place from the start (configure it in start_system):\n{indent}    lab.mitigation({:?});\n",
                one_line(&m.what)
            ));
        }
        out.push_str(&format!("{indent}}}\n"));
    }
    mitigations.retain(|m| m.at.is_some());
    let mut fault_no = 0;
    for (i, e) in d.timeline.iter().enumerate() {
        let offset = e.offset_duration();
        out.push('\n');
        out.push_str(&format!(
            "{indent}// Postmortem {}: {}\n",
            e.offset,
            one_line(&e.what)
        ));
        if let Some(p) = &e.phase {
            out.push_str(&format!("{indent}lab.phase({p:?}).await;\n"));
        }
        out.push_str(&format!(
            "{indent}lab.mark(None, {:?});\n",
            format!("postmortem {}: {}", e.offset, one_line(&e.what))
        ));
        if let Some(kind) = &e.fault {
            fault_no += 1;
            out.push_str(&format!(
                "{indent}// FILL: inject the `{kind}` fault this describes (a harness::fault kind, or\n\
                 {indent}// your own `impl Fault`), let the workload run, then heal it:\n\
                 {indent}//   let fault_{fault_no} = lab.inject(/* {kind} fault */).await?;\n\
                 {indent}//   ...\n\
                 {indent}//   fault_{fault_no}.heal().await?;\n"
            ));
        }
        // Mitigations applied by now (and before the next entry).
        let next = d
            .timeline
            .get(i + 1)
            .map(|n| n.offset_duration())
            .unwrap_or(std::time::Duration::MAX);
        let (due, later): (Vec<_>, Vec<_>) = mitigations.into_iter().partition(|m| {
            let at =
                m.at.as_deref()
                    .and_then(|a| crate::duration::parse(a).ok())
                    .unwrap_or_default();
            at >= offset && at < next || (at < offset && i == 0)
        });
        mitigations = later;
        for m in due {
            out.push_str(&format!(
                "{indent}if matches!(variant, Variant::After) {{\n\
                 {indent}    // FILL: apply the mitigation ({} into the outage):\n\
                 {indent}    lab.mitigation({:?});\n\
                 {indent}}}\n",
                m.at.as_deref().unwrap_or("-"),
                one_line(&m.what)
            ));
        }
    }
    out.trim_end().to_string()
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
            for p in d.phases() {
                assert!(g.test.contains(&format!("lab.phase({p:?})")), "{id}: {p}");
            }
            // The skeleton records no check, so it cannot pass.
            let code = g.test.lines().filter(|l| !l.trim_start().starts_with("//"));
            assert!(code.clone().all(|l| !l.contains("lab.check(")), "{id}");
            assert!(g.dossier_md.contains(&d.title));
        }
    }

    #[test]
    fn names_must_be_snake_case() {
        assert!(check_name("acme_2024_cache").is_ok());
        let e = check_name("Acme-Cache").unwrap_err().to_string();
        assert!(e.contains("snake_case"), "{e}");
    }

    #[test]
    fn registering_adds_a_mod_line_once() {
        let dir = std::env::temp_dir().join(format!("incident-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let suite = dir.join("incidents.rs");
        std::fs::write(&suite, "//! x\nmod incidents {\n    mod chat;\n}\n").unwrap();
        assert!(register(&suite, "acme").unwrap());
        assert!(!register(&suite, "acme").unwrap());
        let text = std::fs::read_to_string(&suite).unwrap();
        assert_eq!(
            text,
            "//! x\nmod incidents {\n    mod chat;\n    mod acme;\n}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
