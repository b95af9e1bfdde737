//! Where things are on disk: the workspace root and the artifacts directory.
//!
//! A leaf: the lab, the report, the dossier reader and the CLI all need
//! these paths, and none of them should depend on another to get them.

use std::path::PathBuf;

/// The directory incident artifacts are written to: `$INCIDENT_ARTIFACTS`,
/// else `<target dir>/incidents`.
pub fn artifacts_root() -> PathBuf {
    if let Ok(dir) = std::env::var("INCIDENT_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("incidents")
}

/// The workspace root: the nearest ancestor of the current directory with a
/// `Cargo.lock` (cargo runs tests from the package directory).
pub fn workspace_root() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut dir = start.as_path();
    loop {
        if dir.join("Cargo.lock").exists() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return start,
        }
    }
}
