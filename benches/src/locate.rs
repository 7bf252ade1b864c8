//! Finding the programs a run needs: this workspace's binaries of the same
//! build profile as the running executable (a release harness must drive
//! release plugins, or the comparison measures the optimiser), and the Go
//! fixtures, built from Debian's go-plugin by `interop/build-go.sh`.

use crate::error::{Context, Error, Result};
use std::path::{Path, PathBuf};

pub use plexus_interop::GoFixtures;

/// The directory holding this build profile's binaries (`target/<profile>`):
/// the running executable's directory, or its parent when the executable
/// runs from `deps/` (tests and benchmarks).
pub fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::new(format!("{} has no parent directory", exe.display())))?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        if let Some(parent) = dir.parent() {
            return Ok(parent.to_owned());
        }
    }
    Ok(dir.to_owned())
}

/// The profile's name as cargo spells it (`debug`, `release`), for reports.
pub fn profile_name() -> String {
    profile_dir()
        .ok()
        .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// A binary of this workspace built with the same profile.
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let dir = profile_dir()?;
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let release = if dir.ends_with("release") {
        " --release"
    } else {
        ""
    };
    Err(Error::new(format!(
        "{} is missing: build the workspace binaries first (`cargo build{release} --workspace --bins`)",
        path.display()
    )))
}

/// The interop crate's directory (its build script and Go sources).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interop")
}

/// Builds the Go fixtures into `out` (offline, a few seconds when cached)
/// and returns their paths.
pub fn build_go_fixtures(out: &Path) -> Result<GoFixtures> {
    let script = interop_dir().join("build-go.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(out)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "building the Go fixtures with {} failed ({}); are the Go packages installed (see .ci/run)?\n{}{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let fixtures = GoFixtures {
        plugin: out.join("bin/plexus-goplugin-notifier"),
        host: out.join("bin/plexus-gohost"),
    };
    for path in [&fixtures.plugin, &fixtures.host] {
        if !path.is_file() {
            return Err(Error::new(format!(
                "{} did not produce {}",
                script.display(),
                path.display()
            )));
        }
    }
    Ok(fixtures)
}
