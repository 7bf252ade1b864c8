//! A `plexus serve` started for a test from a JSON config, stopped with
//! SIGTERM (and checked to exit cleanly) when the test is done with it.

use crate::{eventually, workspace_bin};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running daemon; [`ServeDaemon::stop`] ends it.
pub struct ServeDaemon {
    child: Option<Child>,
}

impl ServeDaemon {
    /// Writes `config` to `dir/plexus.json`, starts `plexus serve` on it
    /// with `env` added, and waits until `socket` exists.
    pub async fn start(
        dir: &Path,
        config: serde_json::Value,
        env: &[(&str, &str)],
        socket: &Path,
    ) -> ServeDaemon {
        let config_path = dir.join("plexus.json");
        std::fs::write(&config_path, config.to_string()).expect("write the daemon's config");
        Self::start_file(&config_path, env, socket).await
    }

    /// Starts `plexus serve` on the config file at `config_path` (any
    /// format it reads) with `env` added, and waits until `socket` exists.
    pub async fn start_file(
        config_path: &Path,
        env: &[(&str, &str)],
        socket: &Path,
    ) -> ServeDaemon {
        let child = Command::new(workspace_bin("plexus"))
            .args(["--log", "warn", "serve", "--config"])
            .arg(config_path)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start plexus serve");
        let socket: PathBuf = socket.to_owned();
        eventually("the ingestion socket", Duration::from_secs(30), || {
            socket.exists()
        })
        .await;
        ServeDaemon { child: Some(child) }
    }

    /// SIGKILL, as a crash: nothing is flushed, nothing is stopped
    /// gracefully (its plugins are orphaned until the next start).
    pub async fn kill9(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        crate::kill9(u64::from(child.id()));
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }

    /// SIGTERM, then asserts a clean exit.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the pid of a child this value owns and has not
        // reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("wait for plexus serve")
            .expect("plexus serve's exit status");
        assert!(status.success(), "plexus serve exited with {status}");
    }
}

impl Drop for ServeDaemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
