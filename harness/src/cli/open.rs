//! `incident open [incident]`: the HTML index of every run
//! (`<artifacts>/index.html`), or one incident's timeline picture, opened
//! in the desktop's browser when there is one, else printed as a
//! `file://` address to open.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Options of `incident open`.
#[derive(clap::Args, Debug)]
pub struct OpenArgs {
    /// An incident whose timeline picture to open (default: the index).
    pub incident: Option<String>,
}

/// The file to open, if the runs that make it have happened.
pub fn target(artifacts: &Path, incident: Option<&str>) -> Result<PathBuf> {
    let (path, fix) = match incident {
        None => (
            artifacts.join(crate::report::html::FILE),
            "run the suite first: cargo test --test incidents".to_string(),
        ),
        Some(name) => (
            artifacts.join(name).join(crate::report::svg::FILE),
            format!("run it first: cargo test --test incidents {name}"),
        ),
    };
    if !path.exists() {
        bail!("{} does not exist: {fix}", path.display());
    }
    Ok(path)
}

/// Opens it; returns the exit code.
pub fn run(args: &OpenArgs) -> Result<i32> {
    let path = target(&crate::paths::artifacts_root(), args.incident.as_deref())?;
    let url = format!("file://{}", path.canonicalize()?.display());
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opened = desktop
        && std::process::Command::new("xdg-open")
            .arg(&url)
            .status()
            .is_ok_and(|s| s.success());
    if !opened {
        println!("{url}");
    }
    Ok(0)
}
