//! `incident clean`: removes what runs that did not end left behind
//! (a killed `cargo test`): the containers and networks labelled by the
//! harness whose owning process is gone. Runs whose owner is alive are
//! left alone. (Every lab also sweeps orphans when it starts.)

use anyhow::Result;

/// Options of `incident clean`.
#[derive(clap::Args, Debug)]
pub struct CleanArgs {}

/// Sweeps orphaned runs and prints what went; returns the exit code.
pub fn run(_args: &CleanArgs) -> Result<i32> {
    let runtime = tokio::runtime::Runtime::new()?;
    let removed = runtime.block_on(async {
        let docker = crate::docker::connect().await?;
        anyhow::Ok(crate::lab::sweep_orphans(&docker).await)
    })?;
    if removed.is_empty() {
        println!("nothing to clean: no run of a process that is gone left anything");
    } else {
        for run in &removed {
            println!("removed run {run}: its containers and networks");
        }
        println!("{} orphaned run(s) removed", removed.len());
    }
    Ok(0)
}
