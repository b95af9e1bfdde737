//! `incident images build|list`.

use crate::images::build::{self, BuildOptions, Outcome, Status};
use crate::images::{self, ImageId, Resolved, Source};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::time::Duration;

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
pub fn run(cmd: &ImagesCommand) -> anyhow::Result<i32> {
    match cmd {
        ImagesCommand::Build { only, force } => run_build(only.as_deref(), *force),
        ImagesCommand::List => run_list(),
    }
}

/// Parses `--only NAME`, naming the valid names when it is wrong.
pub fn parse_only(name: &str) -> anyhow::Result<ImageId> {
    match ImageId::from_name(name) {
        Some(ImageId::Mongo) => anyhow::bail!("{}", ImageId::Mongo.fix()),
        Some(id) => Ok(id),
        None => {
            let names: Vec<&str> = build::buildable().iter().map(|i| i.name()).collect();
            anyhow::bail!("unknown image `{name}`: use one of {}", names.join(", "))
        }
    }
}

fn run_build(only: Option<&str>, force: bool) -> anyhow::Result<i32> {
    let options = BuildOptions {
        only: only.map(parse_only).transpose()?,
        force,
    };
    let started = std::time::Instant::now();
    let outcomes = build::build(&options)?;
    println!("{}", build_table(&outcomes));
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed(_)))
        .collect();
    for o in &failed {
        if let Status::Failed(why) = &o.status {
            eprintln!("{} failed: {why}", o.id.name());
        }
    }
    println!(
        "images build finished in {}",
        human_duration(started.elapsed())
    );
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// The summary table of a build: name, reference, status, duration, size.
pub fn build_table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["image", "reference", "status", "duration", "size"]);
    for o in outcomes {
        table.add_row([
            o.id.name().to_string(),
            o.reference.clone(),
            o.status.word().to_string(),
            human_duration(o.duration),
            o.size.map(human_size).unwrap_or_else(|| "-".into()),
        ]);
    }
    table
}

fn run_list() -> anyhow::Result<i32> {
    let resolved = crate::docker::blocking(|docker| {
        Box::pin(async move {
            let mut all = Vec::new();
            for id in ImageId::ALL {
                all.push(images::resolve(docker, *id).await);
            }
            all
        })
    })?;
    println!("{}", list_table(&resolved));
    Ok(0)
}

/// The table of `incident images list`.
pub fn list_table(resolved: &[Resolved]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["image", "reference", "source", "present", "size"]);
    for r in resolved {
        table.add_row([
            r.id.name().to_string(),
            r.reference.clone(),
            source_word(r.source).to_string(),
            if r.present { "yes" } else { "no" }.to_string(),
            r.size.map(human_size).unwrap_or_else(|| "-".into()),
        ]);
    }
    table
}

/// `override`, `local` or `official`.
pub fn source_word(source: Source) -> &'static str {
    match source {
        Source::Override => "override",
        Source::Local => "local",
        Source::Official => "official",
    }
}

/// Bytes as `12.3 MB` (decimal units, like `docker images`).
pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// A duration as `0.4s`, `12s` or `3m05s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_docker() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(11_206_818), "11.2 MB");
        assert_eq!(human_size(1_500_000_000), "1.50 GB");
        assert_eq!(human_duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(human_duration(Duration::from_secs(12)), "12s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3m05s");
    }

    #[test]
    fn only_names_the_valid_images_when_wrong() {
        assert_eq!(parse_only("consul-legacy").unwrap(), ImageId::ConsulLegacy);
        let err = parse_only("consull").unwrap_err().to_string();
        assert!(err.contains("consul-legacy"), "{err}");
        let mongo = parse_only("mongo").unwrap_err().to_string();
        assert!(mongo.contains("docker pull mongo:7.0"), "{mongo}");
    }

    #[test]
    fn the_build_table_shows_every_column() {
        let rows = vec![Outcome {
            id: ImageId::Toxiproxy,
            reference: "incident/toxiproxy:2.12.0".into(),
            status: Status::UpToDate,
            duration: Duration::from_millis(30),
            size: Some(11_206_818),
        }];
        let text = build_table(&rows).to_string();
        for needle in [
            "toxiproxy",
            "incident/toxiproxy:2.12.0",
            "up-to-date",
            "0.0s",
            "11.2 MB",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }
}
