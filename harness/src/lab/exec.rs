//! Running a command inside a container and collecting what it printed.

use crate::docker::DockerError;
use anyhow::Result;
use bollard::Docker;
use futures::StreamExt;

/// A command's result inside a container.
#[derive(Clone, Debug)]
pub struct ExecOutput {
    /// The exit code.
    pub exit_code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl ExecOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// Runs a command in a container and collects its output and exit code.
pub async fn exec_in(docker: &Docker, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| DockerError::api(format!("create_exec {container} {cmd:?}"), e))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(|e| DockerError::api(format!("start_exec {container}"), e))?
    {
        while let Some(msg) = output.next().await {
            match msg {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                Ok(other) => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                Err(_) => break,
            }
        }
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| DockerError::api(format!("inspect_exec {container}"), e))?;
    Ok(ExecOutput {
        exit_code: inspect.exit_code.unwrap_or(-1),
        stdout,
        stderr,
    })
}
