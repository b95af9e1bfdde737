//! `incident images build|list`.

/// `incident images ...`.
#[derive(clap::Subcommand, Debug)]
pub enum ImagesCommand {
    /// Builds every image we can build without a registry.
    Build {
        /// Only this image (base, toolbox, toxiproxy, consul, consul-legacy, chat-gateway).
        #[arg(long)]
        only: Option<String>,
        /// Rebuild even when up to date.
        #[arg(long)]
        force: bool,
    },
    /// Lists every image with where it resolves to.
    List,
}

/// Runs an images subcommand; returns the process exit code.
pub fn run(_cmd: &ImagesCommand) -> anyhow::Result<i32> {
    anyhow::bail!("incident images is not built yet")
}
