//! Postmortem dossiers as TOML (`postmortems/<id>.toml`): the facts an
//! incident test is written from (title, date, systems, a timeline with
//! offsets and fault kinds, mitigations, the recovery budget).
//!
//! `incident new <name> --from <dossier>.toml` generates a test skeleton
//! from one; the timeline picture draws the dossier's own timeline, scaled
//! to the run, under the observed one. The schema is documented in
//! `docs/postmortem-toml.md`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One postmortem, as written in `postmortems/<id>.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    /// The dossier id (`roblox-2021-consul`): the `postmortem` of its incidents.
    pub id: String,
    /// One line: who, when, what.
    pub title: String,
    /// The day it began, `YYYY-MM-DD`.
    pub date: String,
    /// The systems involved (`consul`, `mongodb`, `chat-gateway`...).
    pub systems: Vec<String>,
    /// A short account of the outage, for the generated markdown.
    #[serde(default)]
    pub summary: String,
    /// The public postmortem(s) this restates.
    #[serde(default)]
    pub sources: Vec<String>,
    /// The recovery budget of the *after* variant (`"90s"`).
    pub budget: String,
    /// The hard limit of one run (`"6m"`, default 6 minutes).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Requirement names the incident needs (`consul`, `toxiproxy`...),
    /// both variants unless `requires_before` says otherwise.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The *before* variant's requirements where they differ from
    /// `requires` (Roblox's before runs the pre-fix Consul: `consul_legacy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_before: Option<Vec<String>>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
    /// What fixed it, or was promised to.
    #[serde(default)]
    pub mitigations: Vec<Mitigation>,
}

/// One entry of the postmortem's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// Time since the incident began (`"0s"`, `"28m"`, `"2h59m"`).
    pub offset: String,
    /// What happened, in one line.
    pub what: String,
    /// The phase it opens in the test (`steady`, `fault`, `mitigate`,
    /// `recover`...); entries without one stay in the previous phase.
    #[serde(default)]
    pub phase: Option<String>,
    /// The harness fault kind it maps to (`partition`, `memory`, `pids`,
    /// `kill`, `restart`, `toxic`, `pause`, `disconnect`...), if it is one.
    #[serde(default)]
    pub fault: Option<String>,
}

/// One mitigation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mitigation {
    /// The name a scenario asks for it by (`lab.mitigated("bounded_backlog")`)
    /// and `INCIDENT_MITIGATIONS` / `incident ablate` switch it by; lower
    /// snake case, required when `after = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What was done or promised.
    pub what: String,
    /// When (offset), if it happened during the outage.
    #[serde(default)]
    pub at: Option<String>,
    /// Whether the *after* variant must have it in place.
    #[serde(default)]
    pub after: bool,
}

/// A malformed dossier: names the file, the line and column, and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct DossierError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// 1-based line and column of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map(|nl| before[nl + 1..].chars().count())
        .unwrap_or_else(|| before.chars().count())
        + 1;
    (line, col)
}

impl Dossier {
    /// Parses and validates a dossier; errors carry `path:line:column`.
    pub fn parse(text: &str, path: &Path) -> Result<Dossier, DossierError> {
        let err = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            DossierError {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let dossier: Dossier = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err(offset, e.message().trim().to_string())
        })?;
        // Durations are validated here so the error points at the value.
        let at = |needle: &str| text.find(needle).unwrap_or(0);
        let check = |value: &str, field: &str| -> Result<(), DossierError> {
            crate::duration::parse(value)
                .map(|_| ())
                .map_err(|e| err(at(&format!("\"{value}\"")), format!("{field}: {e}")))
        };
        check(&dossier.budget, "budget")?;
        if let Some(t) = &dossier.timeout {
            check(t, "timeout")?;
            if dossier.timeout_duration() < dossier.budget_duration() {
                return Err(err(
                    at(&format!("\"{t}\"")),
                    format!(
                        "timeout {t} is shorter than the budget {}: a run must be able to outlast its budget",
                        dossier.budget
                    ),
                ));
            }
        }
        if dossier.timeline.is_empty() {
            return Err(err(
                0,
                "the dossier has no [[timeline]] entries: add at least one with offset and what"
                    .into(),
            ));
        }
        let mut last = Duration::ZERO;
        for entry in &dossier.timeline {
            check(&entry.offset, "timeline offset")?;
            let offset = entry.offset_duration();
            if offset < last {
                return Err(err(
                    at(&format!("\"{}\"", entry.offset)),
                    format!(
                        "timeline offset {} comes before the previous entry's: list entries in time order",
                        entry.offset
                    ),
                ));
            }
            last = offset;
        }
        let mut names: Vec<&str> = Vec::new();
        for m in &dossier.mitigations {
            if let Some(a) = &m.at {
                check(a, "mitigation at")?;
            }
            let what = at(&format!("\"{}\"", m.what));
            match &m.name {
                Some(n) => {
                    crate::mitigations::check_name(n)
                        .map_err(|e| err(at(&format!("\"{n}\"")), e))?;
                    if names.contains(&n.as_str()) {
                        return Err(err(
                            at(&format!("\"{n}\"")),
                            format!(
                                "mitigation name `{n}` is given twice: name each mitigation once"
                            ),
                        ));
                    }
                    names.push(n);
                }
                None if m.after => {
                    return Err(err(
                        what,
                        "an `after = true` mitigation needs a `name` (lower snake case, like `bounded_backlog`): the after variant's scenario asks for it by that name".into(),
                    ));
                }
                None => {}
            }
        }
        for r in dossier
            .requires
            .iter()
            .chain(dossier.requires_before.iter().flatten())
        {
            if !crate::spec::Requirement::ALL
                .iter()
                .any(|k| k.as_str() == r)
            {
                return Err(err(
                    at(&format!("\"{r}\"")),
                    format!(
                        "unknown requirement `{r}` (known: {})",
                        crate::spec::Requirement::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        Ok(dossier)
    }

    /// The requirement names of `variant`'s incident: `requires_before`
    /// for a before variant when given, else `requires`.
    pub fn requires_for(&self, variant: crate::spec::Variant) -> &[String] {
        match (variant, &self.requires_before) {
            (crate::spec::Variant::Before, Some(before)) => before,
            _ => &self.requires,
        }
    }

    /// The names of the mitigations the *after* variant has, in order.
    pub fn mitigation_names(&self) -> Vec<String> {
        self.mitigations
            .iter()
            .filter(|m| m.after)
            .filter_map(|m| m.name.clone())
            .collect()
    }

    /// Reads and parses a dossier file.
    pub fn load(path: &Path) -> anyhow::Result<Dossier> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(Dossier::parse(&text, path)?)
    }

    /// The dossier of a postmortem id in the workspace's `postmortems/`.
    pub fn find(id: &str) -> Option<Dossier> {
        let path = crate::paths::workspace_root()
            .join("postmortems")
            .join(format!("{id}.toml"));
        Dossier::load(&path).ok()
    }

    /// The recovery budget.
    pub fn budget_duration(&self) -> Duration {
        crate::duration::parse(&self.budget).unwrap_or(Duration::from_secs(90))
    }

    /// The hard limit of one run (6 minutes unless the dossier says).
    pub fn timeout_duration(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| crate::duration::parse(t).ok())
            .unwrap_or(Duration::from_secs(360))
    }

    /// The offset of the last timeline entry (the outage's length as told).
    pub fn span(&self) -> Duration {
        self.timeline
            .iter()
            .map(TimelineEntry::offset_duration)
            .max()
            .unwrap_or_default()
    }

    /// The phases in the order the timeline opens them (`steady` first if
    /// the first entry opens none).
    pub fn phases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.timeline {
            if let Some(p) = &e.phase {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        if self
            .timeline
            .first()
            .and_then(|e| e.phase.as_ref())
            .is_none()
        {
            out.insert(0, "steady".into());
        }
        out
    }
}

impl TimelineEntry {
    /// The offset as a duration (zero if invalid; [`Dossier::parse`] rejects those).
    pub fn offset_duration(&self) -> Duration {
        crate::duration::parse(&self.offset).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "acme-2024-cache"
title = "Acme cache stampede"
date = "2024-01-02"
systems = ["cache"]
budget = "90s"

[[timeline]]
offset = "0s"
what = "cache node dies"
phase = "fault"
fault = "kill"

[[timeline]]
offset = "1h"
what = "traffic shed"
phase = "mitigate"
"#;

    #[test]
    fn a_good_dossier_parses() {
        let d = Dossier::parse(GOOD, Path::new("acme.toml")).unwrap();
        assert_eq!(d.phases(), vec!["fault", "mitigate"]);
        assert_eq!(d.span(), Duration::from_secs(3600));
    }

    #[test]
    fn malformed_toml_names_file_line_and_column() {
        let bad = "id = \"x\"\ntitle = \"t\"\nsystems = [\"a\" \"b\"]\nbudget = \"90s\"\n";
        let e = Dossier::parse(bad, Path::new("pm/bad.toml")).unwrap_err();
        assert_eq!(e.path, Path::new("pm/bad.toml"));
        assert_eq!(e.line, 3, "{e}");
        let text = e.to_string();
        assert!(text.starts_with("pm/bad.toml:3:"), "{text}");
    }

    #[test]
    fn syntax_error_points_at_the_offending_column() {
        let bad = "id = \"x\"\ntitle = \"t\" junk\n";
        let e = Dossier::parse(bad, Path::new("b.toml")).unwrap_err();
        assert_eq!((e.line, e.column), (2, 13), "{e}");
    }

    #[test]
    fn bad_duration_points_at_its_value() {
        let bad = GOOD.replace("offset = \"1h\"", "offset = \"1 hour\"");
        let e = Dossier::parse(&bad, Path::new("b.toml")).unwrap_err();
        assert_eq!((e.line, e.column), (15, 10), "{e}");
        assert!(e.message.contains("timeline offset"), "{e}");
    }

    #[test]
    fn after_mitigations_are_named_once_in_snake_case() {
        let with = |m: &str| format!("{GOOD}\n[[mitigations]]\n{m}\n");
        let d = Dossier::parse(
            &with("name = \"shed_load\"\nwhat = \"shed\"\nafter = true\n\n[[mitigations]]\nwhat = \"an alert\""),
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(d.mitigation_names(), vec!["shed_load"]);
        let e = Dossier::parse(&with("what = \"shed\"\nafter = true"), Path::new("a.toml"))
            .unwrap_err();
        assert!(e.message.contains("needs a `name`"), "{e}");
        assert_eq!(e.line, 20, "points at the mitigation: {e}");
        let e = Dossier::parse(
            &with("name = \"Shed\"\nwhat = \"shed\"\nafter = true"),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.message.contains("lower snake case"), "{e}");
        let twice = "name = \"shed\"\nwhat = \"a\"\nafter = true\n\n[[mitigations]]\nname = \"shed\"\nwhat = \"b\"";
        let e = Dossier::parse(&with(twice), Path::new("a.toml")).unwrap_err();
        assert!(e.message.contains("given twice"), "{e}");
    }

    #[test]
    fn unknown_field_is_rejected_with_its_place() {
        let bad = GOOD.replace("fault = \"kill\"", "faults = \"kill\"");
        let e = Dossier::parse(&bad, Path::new("b.toml")).unwrap_err();
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("faults"), "{e}");
    }

    #[test]
    fn a_timeout_shorter_than_the_budget_is_rejected() {
        let bad = GOOD.replace("budget = \"90s\"", "budget = \"90s\"\ntimeout = \"1m\"");
        let e = Dossier::parse(&bad, Path::new("b.toml")).unwrap_err();
        assert_eq!((e.line, e.column), (7, 11), "{e}");
        assert!(e.message.contains("shorter than the budget"), "{e}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
