//! The host's typed errors: every failure names the plugin and the step.

use std::fmt;

/// The step of starting or running a plugin at which something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Checksum,
    Spawn,
    HandshakeTimeout,
    ExitedBeforeHandshake,
    BadHandshake,
    VersionMismatch,
    Connect,
    Tls,
    Health,
    Shutdown,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Checksum => "checksum",
            Step::Spawn => "spawn",
            Step::HandshakeTimeout => "handshake timeout",
            Step::ExitedBeforeHandshake => "exited before handshake",
            Step::BadHandshake => "bad handshake",
            Step::VersionMismatch => "version mismatch",
            Step::Connect => "connect",
            Step::Tls => "tls",
            Step::Health => "health",
            Step::Shutdown => "shutdown",
        })
    }
}

/// A plugin failed at `step`; `detail` says how, in a sentence.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {plugin}: {step}: {detail}")]
pub struct HostError {
    /// The plugin's command path, as configured.
    pub plugin: String,
    pub step: Step,
    pub detail: String,
}

impl HostError {
    pub fn new(plugin: impl Into<String>, step: Step, detail: impl Into<String>) -> Self {
        HostError {
            plugin: plugin.into(),
            step,
            detail: detail.into(),
        }
    }
}
