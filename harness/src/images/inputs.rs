//! Content addresses of image builds: the sha256 of everything a build
//! reads (recipe text, versions, package lists, source files). The digest
//! is stored on the image as the [`INPUTS_LABEL`] label; an image whose
//! label matches its current inputs is up to date and is not rebuilt.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The image label holding the inputs digest.
pub const INPUTS_LABEL: &str = "io.incident-harness.inputs";

/// Accumulates named inputs into one digest. Each input is framed by its
/// name and length, so `("a", "bc")` and `("ab", "c")` differ.
#[derive(Clone, Default)]
pub struct Inputs {
    hasher: Sha256,
}

impl Inputs {
    /// An empty set of inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one named input.
    pub fn add(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        self.hasher.update((name.len() as u64).to_le_bytes());
        self.hasher.update(name.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// Adds every file under `dir` (recursively, sorted, skipping `target`
    /// and hidden directories), named by its path relative to `root`.
    pub fn add_tree(&mut self, root: &Path, dir: &Path) -> std::io::Result<&mut Self> {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        for file in files {
            let rel = file.strip_prefix(root).unwrap_or(&file);
            let bytes = std::fs::read(&file)?;
            self.add(&rel.to_string_lossy(), bytes);
        }
        Ok(self)
    }

    /// The hex sha256 of everything added so far.
    pub fn digest(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if name == "target" || name.starts_with('.') {
                continue;
            }
            collect_files(&path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// The directories of the workspace crates `crate_dir` depends on by path
/// (directly or through `workspace = true`), transitively, `crate_dir`
/// included. Their sources are inputs of an image built from the crate.
pub fn path_crates(workspace_root: &Path, crate_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let root_manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(workspace_root.join("Cargo.toml"))?)?;
    let workspace_paths: std::collections::BTreeMap<String, PathBuf> = root_manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .map(|deps| {
            deps.iter()
                .filter_map(|(name, dep)| {
                    let path = dep.get("path")?.as_str()?;
                    Some((name.clone(), workspace_root.join(path)))
                })
                .collect()
        })
        .unwrap_or_default();

    let mut seen: Vec<PathBuf> = Vec::new();
    let mut queue = vec![crate_dir.to_path_buf()];
    while let Some(dir) = queue.pop() {
        if seen.contains(&dir) {
            continue;
        }
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml"))?)?;
        for section in ["dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for (name, dep) in deps {
                if let Some(path) = dep.get("path").and_then(|p| p.as_str()) {
                    queue.push(dir.join(path));
                } else if dep.get("workspace").and_then(|w| w.as_bool()) == Some(true) {
                    if let Some(path) = workspace_paths.get(name) {
                        queue.push(path.clone());
                    }
                }
            }
        }
        seen.push(dir);
    }
    seen.sort();
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_separates_names_from_values() {
        let a = Inputs::new().add("a", "bc").digest();
        let b = Inputs::new().add("ab", "c").digest();
        assert_ne!(a, b);
        assert_eq!(a, Inputs::new().add("a", "bc").digest());
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_tree_digest_changes_when_a_file_changes_and_ignores_target() {
        let dir = std::env::temp_dir().join(format!("inputs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(dir.join("src/main.rs"), "fn main() {}").unwrap();
        let first = Inputs::new().add_tree(&dir, &dir).unwrap().digest();
        std::fs::write(dir.join("target/junk"), "build output").unwrap();
        assert_eq!(first, Inputs::new().add_tree(&dir, &dir).unwrap().digest());
        std::fs::write(dir.join("src/main.rs"), "fn main() { }").unwrap();
        assert_ne!(first, Inputs::new().add_tree(&dir, &dir).unwrap().digest());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn path_crates_follow_workspace_dependencies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let crates = path_crates(root, &root.join("harness")).unwrap();
        assert!(crates.contains(&root.join("harness")));
        assert!(crates.contains(&root.join("harness-macros")));
    }
}
