//! The suite's incidents as written: every `#[incident(..)]` attribute in
//! `tests/incidents/*.rs`, read from the source (no build needed). What
//! `incident list` prints and what `tests/attributes_match_dossiers.rs`
//! compares with the dossiers.
//!
//! A reader of the attribute's own syntax (`key = "value"`, `key = word`,
//! `key = [a, b]`), not a Rust parser: the macro rejects anything else at
//! compile time, so a suite that builds reads back whole.

use crate::spec::{Requirement, Variant};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One `#[incident(..)]` as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The test function's name (the incident's name).
    pub name: String,
    /// The libtest path: `incidents::<file>::<name>`.
    pub test_path: String,
    /// The file it is in.
    pub file: PathBuf,
    /// The dossier id (`postmortem = ".."`).
    pub postmortem: String,
    /// `variant = before | after`.
    pub variant: Variant,
    /// `budget = ".."`, as written.
    pub budget: String,
    /// `timeout = ".."`, as written, if any.
    pub timeout: Option<String>,
    /// `requires = [..]`, as written (names).
    pub requires: Vec<String>,
    /// `tags = [..]`.
    pub tags: Vec<String>,
    /// `always = [..]`: checks that must hold in both variants.
    pub always: Vec<String>,
}

impl Entry {
    /// The requirements, resolved: the implied ones (Docker, the base
    /// image), then those written.
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut out = Requirement::IMPLIED.to_vec();
        for r in self
            .requires
            .iter()
            .filter_map(|n| Requirement::from_name(n))
        {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }
}

/// Every incident under `<root>/tests/incidents`, by file then position.
pub fn read(root: &Path) -> Result<Vec<Entry>> {
    let dir = root.join("tests/incidents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| {
            format!(
                "reading {}: run this from the workspace that holds the incident suite",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        out.extend(parse(&text, &file)?);
    }
    Ok(out)
}

/// The incidents in one file's text.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Entry>> {
    let module = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (start, _) in text.match_indices("#[incident(") {
        let line = text[..start].matches('\n').count() + 1;
        let at = || format!("{}:{line}", file.display());
        let Some(len) = text[start..].find(")]") else {
            bail!("{}: an #[incident( attribute that is not closed", at());
        };
        let args = &text[start + "#[incident(".len()..start + len];
        let after = &text[start + len..];
        let Some(fn_at) = after.find("fn ") else {
            bail!("{}: no function after the #[incident] attribute", at());
        };
        let name: String = after[fn_at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let variant = match word(args, "variant").as_deref() {
            Some("before") => Variant::Before,
            Some("after") => Variant::After,
            other => bail!("{}: variant = {other:?}, not before or after", at()),
        };
        out.push(Entry {
            test_path: format!("incidents::{module}::{name}"),
            name,
            file: file.to_path_buf(),
            postmortem: quoted(args, "postmortem")
                .with_context(|| format!("{}: no postmortem = \"..\"", at()))?,
            variant,
            budget: quoted(args, "budget")
                .with_context(|| format!("{}: no budget = \"..\"", at()))?,
            timeout: quoted(args, "timeout"),
            requires: list(args, "requires"),
            tags: list(args, "tags"),
            always: list(args, "always"),
        });
    }
    Ok(out)
}

/// Where `key =` starts a key (not the tail of a longer one).
fn value_of<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = args[from..].find(key) {
        let at = from + i;
        let before_ok = args[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let rest = args[at + key.len()..].trim_start();
        if before_ok {
            if let Some(v) = rest.strip_prefix('=') {
                return Some(v.trim_start());
            }
        }
        from = at + key.len();
    }
    None
}

/// `key = "value"`.
fn quoted(args: &str, key: &str) -> Option<String> {
    let v = value_of(args, key)?.strip_prefix('"')?;
    Some(v[..v.find('"')?].to_string())
}

/// `key = word`.
fn word(args: &str, key: &str) -> Option<String> {
    let v = value_of(args, key)?;
    Some(
        v.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect(),
    )
}

/// `key = [a, b]` (empty if the key is absent).
fn list(args: &str, key: &str) -> Vec<String> {
    let Some(v) = value_of(args, key).and_then(|v| v.strip_prefix('[')) else {
        return Vec::new();
    };
    v[..v.find(']').unwrap_or(v.len())]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
/// Doc.
#[incident(
    postmortem = "acme-2024",
    variant = before,
    budget = "30s",
    timeout = "5m",
    requires = [chat_gateway, consul],
    tags = [heavy, chat]
)]
async fn acme_before(lab: &mut Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "acme-2024", variant = after, budget = "30s")]
async fn acme_after(lab: &mut Lab) -> Outcome {
    Ok(())
}
"#;

    #[test]
    fn every_key_is_read_back() {
        let e = parse(FILE, Path::new("tests/incidents/acme.rs")).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "acme_before");
        assert_eq!(e[0].test_path, "incidents::acme::acme_before");
        assert_eq!(e[0].postmortem, "acme-2024");
        assert_eq!(e[0].variant, Variant::Before);
        assert_eq!(e[0].budget, "30s");
        assert_eq!(e[0].timeout.as_deref(), Some("5m"));
        assert_eq!(e[0].requires, ["chat_gateway", "consul"]);
        assert_eq!(e[0].tags, ["heavy", "chat"]);
        assert_eq!(
            e[0].requirements(),
            [
                Requirement::Docker,
                Requirement::Base,
                Requirement::ChatGateway,
                Requirement::Consul
            ]
        );
        assert_eq!(e[1].variant, Variant::After);
        assert!(e[1].requires.is_empty() && e[1].timeout.is_none());
    }

    #[test]
    fn a_broken_attribute_names_its_place() {
        let text =
            "\n\n#[incident(postmortem = \"x\", variant = sideways, budget = \"1s\")]\nfn x() {}\n";
        let e = parse(text, Path::new("a.rs")).unwrap_err().to_string();
        assert!(e.starts_with("a.rs:3:"), "{e}");
        assert!(e.contains("sideways"), "{e}");
    }

    #[test]
    fn the_workspace_suite_reads_whole() {
        let entries = read(&crate::paths::workspace_root()).unwrap();
        assert!(entries.len() >= 10, "{entries:?}");
        assert!(entries
            .iter()
            .any(|e| e.test_path == "incidents::chat::leancloud_2015_08_after"));
        // Every requirement written is one the harness knows.
        for e in &entries {
            assert!(
                e.requires
                    .iter()
                    .all(|n| Requirement::from_name(n).is_some()),
                "{e:?}"
            );
        }
    }
}
