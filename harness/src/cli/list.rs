//! `incident list`: every incident in the suite (read from
//! `tests/incidents/*.rs`), its postmortem and requirements, and whether
//! it can run on this machine (the same check the runner makes before a
//! run, with the reason when it cannot).

use crate::catalog::{self, Entry};
use crate::runner;
use crate::spec::IncidentSpec;
use anyhow::Result;
use comfy_table::{presets::UTF8_FULL, Table};

/// Options of `incident list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only incidents whose name contains this.
    pub filter: Option<String>,
}

/// Whether `e` can run here: `None`, or the one line saying why not.
pub async fn blocker(e: &Entry) -> Option<String> {
    let mut spec = IncidentSpec::new(&e.name, &e.postmortem, e.variant);
    spec.requires = e.requirements();
    runner::check_requirements(&spec).await.map(|m| m.reason)
}

/// Prints the table; returns the process exit code (1 when nothing matched).
pub fn run(args: &ListArgs) -> Result<i32> {
    let entries: Vec<Entry> = catalog::read(&crate::paths::workspace_root())?
        .into_iter()
        .filter(|e| args.filter.as_ref().is_none_or(|f| e.name.contains(f)))
        .collect();
    if entries.is_empty() {
        eprintln!(
            "incident: no incident matches {:?}: `incident list` shows them all",
            args.filter.as_deref().unwrap_or("")
        );
        return Ok(1);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL);
    table.set_header(["incident", "variant", "postmortem", "requires", "runs here"]);
    for e in &entries {
        let here = match runtime.block_on(blocker(e)) {
            None => "yes".to_string(),
            Some(why) => format!("no: {why}"),
        };
        let requires = if e.requires.is_empty() {
            "-".to_string()
        } else {
            e.requires.join(", ")
        };
        table.add_row([
            e.test_path.clone(),
            e.variant.to_string(),
            e.postmortem.clone(),
            requires,
            here,
        ]);
    }
    println!("{table}");
    Ok(0)
}
