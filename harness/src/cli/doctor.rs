//! `incident doctor`: can this machine run the suite?

/// Options of `incident doctor`.
#[derive(clap::Args, Debug, Default)]
pub struct DoctorArgs {}

/// Runs the checks; returns the process exit code.
pub fn run(_args: &DoctorArgs) -> anyhow::Result<i32> {
    anyhow::bail!("incident doctor is not built yet")
}
