//! Replacing one plugin's process while the engine runs (a config reload
//! that changes its `cmd`, `args`, checksum, `auto_mtls` or environment):
//! everything a new launcher for the plugin needs, kept from the start,
//! and for notifiers the bookkeeping that tells when the old connection
//! has no delivery left on it, so the old process is stopped only then
//! and no event in flight is cut short.

use crate::config::PluginConfig;
use crate::host::{HostOptions, LaunchSpec};
use crate::hosted::{AttachFn, HostedLauncher, ReleasedFn};
use plexus_actors::supervisor::{Launcher, PluginControl};
use plexus_actors::transport::NotifierTransport;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A supervised plugin's way to a new process.
pub struct Restarter {
    /// `None` only while the plugin is being put under supervision.
    pub control: Option<PluginControl>,
    pub options: HostOptions,
    pub runtime: tokio::runtime::Handle,
    pub attach: AttachFn,
    pub released: Option<ReleasedFn>,
    /// The plugin's label stays what it was at start (metrics keep one
    /// series per plugin).
    pub label: String,
}

impl Restarter {
    /// A launcher for `spec` that hands each new process to the plugin's
    /// actor.
    pub fn launcher(&self, mut spec: LaunchSpec) -> Arc<dyn Launcher> {
        spec.label = self.label.clone();
        Arc::new(HostedLauncher {
            spec,
            options: self.options.clone(),
            runtime: self.runtime.clone(),
            attach: self.attach.clone(),
            released: self.released.clone(),
        })
    }

    /// Starts the plugin as `config` says and replaces the running process
    /// with it; resolves with the new process id. When the new process
    /// cannot start, the old one keeps running and the error says why.
    pub async fn replace(&self, config: &PluginConfig) -> Result<u32, String> {
        let spec = config.launch_spec()?;
        let control = self
            .control
            .as_ref()
            .ok_or_else(|| "the plugin is not supervised".to_owned())?;
        control.replace(self.launcher(spec)).await
    }
}

/// A notifier's current connection and the one it replaced. The delivery
/// lane holds a connection's transport for as long as a call on it is in
/// flight, so when the last strong reference to the replaced one is gone,
/// nothing uses the old process any more.
#[derive(Default)]
pub struct Connections {
    state: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    current: Option<Weak<dyn NotifierTransport>>,
    previous: Option<Weak<dyn NotifierTransport>>,
}

impl Connections {
    /// `transport` is handed to the actor; the one before becomes the
    /// previous connection.
    pub fn attached(&self, transport: &Arc<dyn NotifierTransport>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.previous = state.current.replace(Arc::downgrade(transport));
    }

    /// The process is gone: its calls were abandoned already.
    pub fn detached(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.current = None;
        state.previous = None;
    }

    /// Resolves once no call uses the previous connection, or after
    /// `deadline` (the calls still on it then fail and follow the retry
    /// rules, as on a crash).
    pub async fn previous_released(&self, deadline: Duration) {
        let previous = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.previous.take()
        };
        let Some(previous) = previous else {
            return;
        };
        let waited = tokio::time::timeout(deadline, async {
            while previous.strong_count() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                "calls on a replaced plugin connection still unanswered after {deadline:?}; stopping the old process anyway"
            );
        }
    }
}
