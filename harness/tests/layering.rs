//! The harness's layers, and the test that keeps them: a module may use
//! the modules of lower layers only, never its own layer's nor a higher
//! one's, so the module graph has no cycle. `docs/architecture.md` draws
//! the same order; this test checks that the picture agrees.
//!
//! It reads `harness/src` as text (no parser dependency): every `crate::x`
//! path outside comments, `use crate::{x, y::z}` groups, and `super::x`
//! where the `super`s climb to the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. The one statement of the layer order.
const LAYERS: &[&[&str]] = &[
    // 0: leaves: no harness imports at all.
    &[
        "duration",
        "labels",
        "paths",
        "console",
        "toxiproxy",
        "mitigations",
    ],
    // 1: the vocabulary: Docker connection, spec, clock, histories,
    // verdicts.
    &["docker", "spec", "timeline", "history", "verdict"],
    // 2: the run's record (plain data), image resolution, dossiers, the
    // suite's incidents as written.
    &["record", "images", "postmortem", "catalog"],
    // 3: checkers: histories in, checks out.
    &["checker"],
    // 4: the report, built from the record.
    &["report"],
    // 5: the lab: drives Docker, owns the record, finishes into a report.
    &["lab"],
    // 6: what acts on the lab.
    &["fault", "workload"],
    // 7: what an #[incident] runs.
    &["runner"],
    // 8: the `incident` command.
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without `//` and `/* */` comments (doc links are not uses).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_str {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
        } else if c == b'"' {
            in_str = true;
            out.push('"');
            i += 1;
        } else if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            i = text[i..].find("*/").map_or(bytes.len(), |e| i + e + 2);
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn ident_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first segment of each item of a `{a, b::c, d::{e}}` group that
/// starts at `text[0] == '{'`.
fn group_heads(text: &str) -> Vec<&str> {
    let (mut depth, mut heads, mut start) = (0, Vec::new(), 1);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                heads.push(ident_at(text[start..i].trim_start()));
                start = i + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    heads
}

/// The top-level modules `text` reaches; `depth` is how many `super`s
/// climb from this file to the crate root.
fn uses(text: &str, depth: usize) -> BTreeSet<String> {
    let text = strip_comments(text);
    let mut found = BTreeSet::new();
    let mut push_from = |rest: &str| {
        if rest.starts_with('{') {
            found.extend(group_heads(rest).into_iter().map(String::from));
        } else {
            found.insert(ident_at(rest).to_string());
        }
    };
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `harness_crate::`, not `crate::`
        }
        push_from(&text[i + "crate::".len()..]);
    }
    let climb = "super::".repeat(depth);
    for (i, _) in text.match_indices(&climb) {
        let rest = &text[i + climb.len()..];
        let before = text[..i].chars().next_back();
        if rest.starts_with("super::") || before.is_some_and(|c| c == ':') {
            continue; // a longer or a shorter climb
        }
        push_from(rest);
    }
    found.retain(|m| !m.is_empty());
    found
}

/// Each top-level module and the top-level modules it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap();
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        // lib.rs is the root (it re-exports); bin/ is another crate.
        if parts[0] == "lib.rs" || parts[0] == "bin" {
            continue;
        }
        let module = parts[0].trim_end_matches(".rs").to_string();
        let depth = parts.len() - usize::from(parts.last().unwrap() == "mod.rs");
        let text = std::fs::read_to_string(&file).unwrap();
        let used = uses(&text, depth);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(used.into_iter().filter(|m| *m != module));
    }
    graph
}

fn top_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(l.trim().to_string())
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = top_modules()
        .into_iter()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules with no layer: {missing:?}; add each to LAYERS in harness/tests/layering.rs and to docs/architecture.md"
    );
}

#[test]
fn no_module_uses_its_own_layer_or_one_above() {
    let mut upward = Vec::new();
    for (module, used) in module_graph() {
        let Some(mine) = layer_of(&module) else {
            continue; // every_module_has_a_layer names it
        };
        for dep in used {
            // Only top-level modules count (`crate::Outcome` is the root's).
            let Some(theirs) = layer_of(&dep) else {
                continue;
            };
            if theirs >= mine {
                upward.push(format!(
                    "{module} (layer {mine}) uses crate::{dep} (layer {theirs})"
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up or across a layer:\n  {}\nmove the item down, or invert the call (return data, let the caller act)",
        upward.join("\n  ")
    );
}

#[test]
fn the_architecture_picture_shows_the_same_layers() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let known: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    for (i, layer) in LAYERS.iter().enumerate() {
        let prefix = format!("{i} ");
        let line = text
            .lines()
            .map(str::trim_start)
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("docs/architecture.md draws no layer {i}"));
        // `N  module module   what they are`: the modules end at a wide gap.
        let modules = line[prefix.len()..].trim_start();
        let modules = modules.split("   ").next().unwrap_or("");
        let drawn: BTreeSet<&str> = modules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| known.contains(w))
            .collect();
        let stated: BTreeSet<&str> = layer.iter().copied().collect();
        assert_eq!(drawn, stated, "layer {i} in docs/architecture.md: {line}");
    }
}

#[test]
fn the_reader_sees_uses_and_not_comments() {
    let text = "use crate::{lab::{LabCtx, Node}, record};\n// crate::runner\n/// [`crate::cli`]\nlet s = \"//\"; crate::paths::workspace_root();\n#[serde(with = \"crate::duration::x\")]\nuse super::history::History;";
    let found: Vec<String> = uses(text, 1).into_iter().collect();
    assert_eq!(
        found,
        ["duration", "history", "lab", "paths", "record"].map(String::from)
    );
    assert!(uses("use super::history::X;", 2).is_empty());
    assert_eq!(
        uses("use super::super::history::X;", 2)
            .into_iter()
            .collect::<Vec<_>>(),
        ["history"]
    );
}

/// A source file past this many lines is split by concept, or its module
/// comment says in one line why it is one concept (issue 14).
const LONG_FILE_LINES: usize = 600;

/// Whether a file's leading `//!` block says why it is one concept.
fn says_why_one_concept(text: &str) -> bool {
    text.lines()
        .take_while(|l| l.starts_with("//!"))
        .any(|l| l.contains("One concept, one file"))
}

#[test]
fn every_long_source_file_is_one_concept_and_says_why() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for krate in [
        "harness",
        "harness-macros",
        "fixtures",
        "scenarios",
        "gateway",
        "vocab",
    ] {
        let dir = workspace.join(krate).join("src");
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    assert!(
        files.len() > 50,
        "the walk found only {} files",
        files.len()
    );
    let mut silent = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if text.lines().count() > LONG_FILE_LINES && !says_why_one_concept(&text) {
            silent.push(f.strip_prefix(workspace).unwrap().display().to_string());
        }
    }
    assert!(
        silent.is_empty(),
        "over {LONG_FILE_LINES} lines with no `//! One concept, one file: <why>` line: split them by concept, or say why each is one: {silent:?}"
    );
}

#[test]
fn the_one_concept_line_counts_only_in_the_module_comment() {
    assert!(says_why_one_concept(
        "//! A.\n//!\n//! One concept, one file: b.\nuse x;"
    ));
    assert!(!says_why_one_concept(
        "//! A.\nuse x;\n// One concept, one file: b."
    ));
}
